/** Prints docs/conformance.md's table (between its markers) from modules.ts: `node test/conformance/print-table.ts`. */
import { conformanceTable, tableEnd, tableStart } from './modules.ts';

console.log(`${tableStart}\n\n${conformanceTable()}\n\n${tableEnd}`);
