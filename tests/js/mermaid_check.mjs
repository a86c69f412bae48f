// Parse every ```mermaid block of the Markdown on stdin with mermaid's own parser.
// Prints "N/M mermaid blocks parse"; exit 1 if any fails (with the parser's message).
import { JSDOM } from "jsdom";
import { readFileSync } from "node:fs";

const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

const text = readFileSync(0, "utf8");
const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
let ok = 0;
for (const block of blocks) {
  try {
    await mermaid.parse(block);
    ok++;
  } catch (error) {
    console.log("FAIL:", String(error.message || error).split("\n")[0]);
    console.log(block);
    process.exitCode = 1;
  }
}
console.log(`${ok}/${blocks.length} mermaid blocks parse`);
