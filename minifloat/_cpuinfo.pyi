"""Type stub of the CPU feature probe (csrc/cpuinfo.cpp)."""

COMPILED_LEVELS: str
COMPILER: str
COMMON_FLAGS: str
BUILD_TYPE: str
SYSTEM_PROCESSOR: str

def features() -> dict[str, bool]: ...
def supported_levels() -> list[str]: ...
