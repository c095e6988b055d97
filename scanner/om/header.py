"""The 256-byte `.om` file header (om-format.md §2), every era."""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_SIZE = 256
MAGIC = 0x444F4D49  # b"IMOD" read little-endian
VERSION_2 = 0x20000000  # model_num and is_unknow_model are meaningful from here on

MODEL_TYPES = {0: "IR", 1: "standard", 2: "tiny", 3: "flow", 4: "lite", 5: "bundle"}
FLOW_MODEL = 3

_LAYOUT = struct.Struct("<III64sIBBBB32sI32sII20sB3xQBB")
assert _LAYOUT.size == 194


def _c_string(raw: bytes) -> str:
    """A fixed-width C string; may fill its field with no NUL."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


@dataclass(frozen=True)
class OmHeader:
    magic: int
    headsize: int
    version: int
    length: int
    is_encrypt: int
    is_checksum: int
    modeltype: int
    genmode: int
    name: str
    ops: int
    om_ir_version: int
    model_num: int
    platform_version: str
    platform_type: int
    model_length: int
    need_check_os_cpu_info: int
    is_unknow_model: int

    @classmethod
    def parse(cls, raw: bytes) -> OmHeader:
        """Decode the first 256 bytes; nothing is validated here (the query does that)."""
        (
            magic,
            headsize,
            version,
            _checksum,
            length,
            is_encrypt,
            is_checksum,
            modeltype,
            genmode,
            name,
            ops,
            _userdefineinfo,
            om_ir_version,
            model_num,
            platform_version,
            platform_type,
            model_length,
            need_check,
            is_unknow_model,
        ) = _LAYOUT.unpack_from(raw)
        return cls(
            magic=magic,
            headsize=headsize,
            version=version,
            length=length,
            is_encrypt=is_encrypt,
            is_checksum=is_checksum,
            modeltype=modeltype,
            genmode=genmode,
            name=_c_string(name),
            ops=ops,
            om_ir_version=om_ir_version,
            model_num=model_num,
            # 2020-era files keep the platform string where model_num now lives.
            platform_version=_c_string(platform_version if version >= VERSION_2 else raw[156:176]),
            platform_type=platform_type,
            model_length=model_length,
            need_check_os_cpu_info=need_check,
            is_unknow_model=is_unknow_model,
        )

    @property
    def payload_length(self) -> int:
        """New writers fill ``model_length`` (then ``length`` is 0); old ones ``length``."""
        return self.model_length if self.model_length != 0 else self.length

    @property
    def wide_tables(self) -> bool:
        """64-bit partition tables: flow models and every file with ``model_length``."""
        return self.modeltype == FLOW_MODEL or self.model_length != 0

    @property
    def dynamic(self) -> bool:
        return self.version >= VERSION_2 and (self.model_num > 1 or self.is_unknow_model == 1)

    @property
    def modeltype_name(self) -> str:
        return MODEL_TYPES.get(self.modeltype, f"unknown({self.modeltype})")
