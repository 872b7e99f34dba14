// The heap a node's app modules take once imported, on a 32-bit MicroPython: the
// webassembly port of the same release as the unix port (the unix port here is a
// 64-bit build). benchmarks/mp32.py runs it:
//   node mp32_import.mjs PACKAGE_DIR SLOT_DIR ROMFS_IMAGE KIT MODE
// MODE "mpy": the slot's .mpy files on a file system (bytecode copied into the heap,
// as from a littlefs slot); "romfs": the same files in a ROMFS image mounted with
// vfs.VfsRom (bytecode runs in place; the image buffer itself is left out of the
// figure: on a board it is a memory-mapped flash partition). Prints one line:
//   @@IMPORT@@ {"mode": ..., "bytes": live heap after import, "qstr_bytes": ...,
//               "maxsize": sys.maxsize, "version": [...]}
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkgDir, slotDir, imagePath, kit, mode] = process.argv.slice(2);
if (!["mpy", "romfs"].includes(mode) || !/^[a-z]+$/.test(kit || "")) {
  console.error(`usage: node mp32_import.mjs PACKAGE_DIR SLOT_DIR ROMFS_IMAGE KIT mpy|romfs (got ${process.argv.slice(2).join(" ")})`);
  process.exit(2);
}
const entry = path.join(pkgDir, "micropython.mjs");
const { loadMicroPython } = await import(pathToFileURL(entry).href);
const out = [];
const mp = await loadMicroPython({ heapsize: 8 * 1024 * 1024, stdout: (line) => out.push(line) });

function copyTree(src, dst) {
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = `${dst}/${e.name}`;
    if (e.isDirectory()) {
      mp.FS.mkdir(d);
      copyTree(s, d);
    } else {
      mp.FS.writeFile(d, fs.readFileSync(s));
    }
  }
}
mp.FS.mkdir("/slot");
copyTree(slotDir, "/slot");
mp.FS.writeFile("/image.romfs", fs.readFileSync(imagePath));

mp.runPython(`
import gc, json, sys, vfs, micropython
root = "/slot"
if "${mode}" == "romfs":
    with open("/image.romfs", "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")
    root = "/rom"
sys.path.insert(0, root)
gc.collect()
micropython.qstr_info()
before = gc.mem_alloc()
import firmware.app.main
__import__("firmware.app.kits.${kit}")
gc.collect()
used = gc.mem_alloc() - before
micropython.qstr_info()
`);
// qstr pools created by the import: the second qstr_info line minus the first
const pools = out.filter((l) => l.startsWith("qstr pool:"));
const total = (l) => Number((l.match(/n_total_bytes=(\d+)/) || [])[1]);
const qbytes = pools.length === 2 ? total(pools[1]) - total(pools[0]) : -1;
mp.runPython(`
import json, sys
print("@@IMPORT@@ " + json.dumps({"mode": "${mode}", "bytes": used, "qstr_bytes": ${qbytes},
      "maxsize": sys.maxsize, "version": list(sys.implementation.version[:3])}))
`);
for (const line of out) if (line.startsWith("@@IMPORT@@")) console.log(line);
