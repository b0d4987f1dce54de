// The table `salvo merge` prints: a row per instance (its label, or its file name when the report
// has none) and a total row, from the JSON merge_inputs() made.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace salvo::cli {

// Columns: instance, kind, host, start (UTC), seconds, sent, sent/s, received, received/s, kernel
// drops; then, when the start times are known, one line with how far apart the instances started.
// Every line ends in '\n'. `merged` must be what merge_inputs() returned.
std::string merge_table_text(const nlohmann::json& merged);

}  // namespace salvo::cli
