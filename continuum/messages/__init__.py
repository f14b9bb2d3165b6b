"""Every shape that crosses a boundary, as msgspec Structs. No I/O, no logic beyond validation."""
