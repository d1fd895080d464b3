"""Lua fragments shared by the projector's Redis scripts (each script is atomic on its own)."""

from __future__ import annotations

HSET_JSON = """
local function hset_json(key, json)
  local flat = {}
  for field, value in pairs(cjson.decode(json)) do
    flat[#flat + 1] = field
    flat[#flat + 1] = value
  end
  redis.call('HSET', key, unpack(flat))
end
"""
"""``hset_json(key, json)``: HSET every field of a JSON object (callers pass an orjson dump)."""
