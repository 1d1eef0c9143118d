"""Read a TensorFlow 1 checkpoint (`<prefix>.index` + `<prefix>.data-00000-of-00001`) without TensorFlow.

The `.index` file is a LevelDB-format sorted table (SSTable) mapping each variable name to a
`BundleEntryProto` (dtype, shape, shard, byte offset and size in the data file, crc32c); the empty key
holds a `BundleHeaderProto`. The data file is the tensors' raw bytes back to back, little-endian.

Layout parsed here (leveldb/table/format.cc, tensorflow/core/protobuf/tensor_bundle.proto):
  footer (last 48 bytes): metaindex BlockHandle, index BlockHandle (varint offset, varint size),
                          zero padding, 8-byte magic 0xdb4775248b80fb57
  block: entries, then uint32 restart offsets, uint32 restart count; followed on disk by a 5-byte
         trailer (1 byte compression type, 4 bytes masked crc32c)
  entry: varint shared key bytes, varint unshared key bytes, varint value length, unshared key, value
The index block's values are BlockHandles of data blocks; data blocks hold the (name, entry) pairs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5

# tensorflow/core/framework/types.proto DataType -> numpy dtype (little-endian); only what checkpoints of
# plain float models carry, plus the common integer types (global_step is int64).
DTYPES = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    19: np.dtype("<f2"),  # DT_HALF
}


class CheckpointFormatError(ValueError):
    """The files are not a TensorFlow 1 checkpoint this reader understands."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives: numpy dtype, shape, data shard, byte offset and byte size."""

    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at buf[pos]; returns (value, next position)."""
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _proto_fields(buf: bytes):
    """Yield (field number, wire type, value) of a protobuf message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise CheckpointFormatError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _shape(buf: bytes) -> tuple[int, ...]:
    """TensorShapeProto: repeated Dim dim = 2 (Dim: int64 size = 1); unknown_rank = 3."""
    dims = []
    for field, _, value in _proto_fields(buf):
        if field == 2:
            size = next((v for f, _, v in _proto_fields(value) if f == 1), 0)
            dims.append(size)
    return tuple(dims)


def _entry(buf: bytes) -> TensorEntry:
    """BundleEntryProto: dtype = 1, shape = 2, shard_id = 3, offset = 4, size = 5, crc32c = 6, slices = 7."""
    dtype = shape = None
    shard_id = offset = size = 0
    for field, _, value in _proto_fields(buf):
        if field == 1:
            dtype = value
        elif field == 2:
            shape = _shape(value)
        elif field == 3:
            shard_id = value
        elif field == 4:
            offset = value
        elif field == 5:
            size = value
        elif field == 7:
            raise CheckpointFormatError("sliced (partitioned) variables are not supported")
    if dtype not in DTYPES:
        raise CheckpointFormatError(f"unsupported tensor dtype enum {dtype}")
    return TensorEntry(DTYPES[dtype], shape or (), shard_id, offset, size)


def _block(data: bytes, offset: int, size: int) -> bytes:
    """The contents of the block at (offset, size), checked to be stored uncompressed."""
    kind = data[offset + size]
    if kind != 0:
        # 1 = snappy; TF writes checkpoints uncompressed, so rather than carry a decoder we say so.
        raise CheckpointFormatError(f"compressed table block (type {kind}) is not supported")
    return data[offset : offset + size]


def _block_entries(block: bytes):
    """Yield (key, value) pairs of a table block, undoing the prefix compression of keys."""
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_len]
        pos += value_len


def read_index(index_path: str | Path) -> dict[str, TensorEntry]:
    """Variable name -> TensorEntry, from a checkpoint's `.index` file."""
    data = Path(index_path).read_bytes()
    if len(data) < FOOTER_SIZE or struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise CheckpointFormatError(f"{index_path} is not a TensorFlow checkpoint index (bad table magic)")
    footer = data[-FOOTER_SIZE:]
    _, pos = _varint(footer, 0)  # metaindex handle: offset ...
    _, pos = _varint(footer, pos)  # ... and size (the meta block is empty for checkpoints)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)

    entries: dict[str, TensorEntry] = {}
    for _, handle in _block_entries(_block(data, index_offset, index_size)):
        block_offset, p = _varint(handle, 0)
        block_size, _ = _varint(handle, p)
        for key, value in _block_entries(_block(data, block_offset, block_size)):
            if key == b"":  # the BundleHeaderProto (num_shards, endianness, version)
                _check_header(value)
                continue
            entries[key.decode("utf-8")] = _entry(value)
    return entries


def _check_header(buf: bytes) -> None:
    """BundleHeaderProto: num_shards = 1, endianness = 2 (0 little, 1 big), version = 3."""
    for field, _, value in _proto_fields(buf):
        if field == 2 and value != 0:
            raise CheckpointFormatError("big-endian checkpoints are not supported")


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """All tensors of the checkpoint at `prefix` (the path before `.index`), as name -> numpy array.

    For a checkpoint saved into a folder with an empty prefix (as musicnn's are: `MSD_musicnn/.index`),
    pass the folder path with a trailing separator or the folder itself.
    """
    prefix = str(prefix)
    if Path(prefix).is_dir():
        prefix = str(Path(prefix)) + "/"
    entries = read_index(prefix + ".index")
    shards = {e.shard_id for e in entries.values()}
    n_shards = max(shards, default=0) + 1
    data = {s: Path(f"{prefix}.data-{s:05d}-of-{n_shards:05d}").read_bytes() for s in shards}
    tensors = {}
    for name, e in entries.items():
        raw = data[e.shard_id][e.offset : e.offset + e.size]
        count = int(np.prod(e.shape, dtype=np.int64))
        if len(raw) != count * e.dtype.itemsize:
            raise CheckpointFormatError(f"{name}: {len(raw)} bytes for shape {e.shape} of {e.dtype}")
        tensors[name] = np.frombuffer(raw, dtype=e.dtype).reshape(e.shape).astype(e.dtype.newbyteorder("="))
    return tensors
