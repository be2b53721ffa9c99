// Writes flip-flop Parquet fixtures with third-party writers (arrow-rs via parquet-wasm, and hyparquet-writer).
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/esm/parquet_wasm.js';
import { parquetWriteBuffer } from 'hyparquet-writer';
import fs from 'fs';
import { readFileSync } from 'fs';
await pw.default(readFileSync('node_modules/parquet-wasm/esm/parquet_wasm_bg.wasm'));
let s = 12345;
const rnd = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
function seq(T, pi) {
  let out = 'w'; let last = rnd() < 0.5 ? '0' : '1'; out += last;
  for (let j = 1; j < T / 2 - 1; j++) {
    const u = rnd();
    const ins = u < (1 - pi) / 2 ? 'w' : u < 1 - pi ? 'r' : 'i';
    let bit = rnd() < 0.5 ? '0' : '1';
    if (ins === 'r') bit = last; if (ins === 'w') last = bit;
    out += ins + bit;
  }
  return out + 'r' + last;
}
const rows = []; for (let k = 0; k < 300; k++) rows.push(seq(512, k % 3 === 0 ? 0.98 : 0.8));
fs.writeFileSync('flipflop-fixture.txt', rows.join('\n') + '\n');
const table = arrow.tableFromArrays({ text: rows, __index_level_0__: BigInt64Array.from(rows.map((_, i) => BigInt(i))) });
const wasmTable = pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
const props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression.SNAPPY).setMaxRowGroupSize(128).setDictionaryEnabled(true).build();
fs.writeFileSync('flipflop-arrow-rs.parquet', pw.writeParquet(wasmTable, props));
const buf = parquetWriteBuffer({ columnData: [{ name: 'text', data: rows, type: 'STRING' }], rowGroupSize: 100 });
fs.writeFileSync('flipflop-hyparquet.parquet', Buffer.from(buf));
console.log('ok', rows.length);
