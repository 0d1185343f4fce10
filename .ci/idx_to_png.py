"""Write a folder tree of PNG files from an IDX image/label pair, for the ImageFolder example.

Usage: python3 idx_to_png.py IMAGES_IDX LABELS_IDX CLASSES_TXT OUT_DIR

Reads the real MNIST digits the set-up converted (10,000, stored in class order) and writes
OUT/train/<class>/<index>.png for every 4th image (2,500) and OUT/test/<class>/<index>.png
for every 20th image from the 3rd on (500), where <index> is the image's position in the
IDX file (five digits) and <class> the line of classes.txt for its label. The PNGs are
8-bit greyscale, one IDAT chunk, filter type 0 (none), zlib level 9: written with the
standard library only (struct + zlib), so the same bytes come out on every machine.
"""
import os
import struct
import sys
import zlib


def read_idx(path, want_dims):
    with open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or ndim != want_dims:
        sys.exit(f"{path}: not an unsigned-byte IDX file with {want_dims} dimensions")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def png_gray(width, height, pixels):
    def chunk(kind, body):
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main():
    images, labels, classes_txt, out = sys.argv[1:5]
    (count, height, width), pixels = read_idx(images, 3)
    (n_labels,), label_bytes = read_idx(labels, 1)
    if n_labels != count:
        sys.exit(f"{images} holds {count} images but {labels} holds {n_labels} labels")
    with open(classes_txt) as f:
        names = [line.strip() for line in f if line.strip()]
    size = height * width
    written = 0
    for i in range(count):
        if i % 4 == 0:
            split = "train"
        elif i % 20 == 2:
            split = "test"
        else:
            continue
        folder = os.path.join(out, split, names[label_bytes[i]].replace("/", "_"))
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
            f.write(png_gray(width, height, pixels[i * size:(i + 1) * size]))
        written += 1
    print(f"wrote {written} PNG files under {out}")


if __name__ == "__main__":
    main()
