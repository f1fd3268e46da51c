// shmkv/json_field.hpp: the one JSON convention for keys and values, shared by export_jsonl
// and every JSON output of the tools.
//
// Keys and values are bytes. A JSON string can only carry Unicode text, so bytes that are
// valid UTF-8 are written as a JSON string under NAME, and any other bytes are written
// base64-encoded (RFC 4648, padded) under NAME_base64. A reader therefore never confuses the
// byte 0xFF with the character U+00FF. Pure functions: thread-safe, no store involved.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "shmkv/export.h"

namespace shmkv {

// Appends `"NAME":"<escaped UTF-8>"` or `"NAME_base64":"<base64>"` to out (no separators).
SHMKV_API void append_json_field(std::string& out, std::string_view name, std::string_view bytes);

// The bytes of a NAME_base64 field's text (RFC 4648, padded), so that a reader can hand back
// what it read (a scan cursor, a key). Nullopt when text is not padded base64.
SHMKV_API std::optional<std::string> decode_base64_field(std::string_view text);

}  // namespace shmkv
