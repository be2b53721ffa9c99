using RawFlipFlop.Experiments.Cli;

return CommandLine.Run(args, Console.Out, Console.Error);
