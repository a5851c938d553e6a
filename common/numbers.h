#pragma once

// Number formatting shared by the config printer and the metrics exporter.

#include <string>

namespace memr1 {

// The shortest decimal text that parses back to exactly `value` ("1e-06", "0.1", "128").
// Non-finite values print as "inf", "-inf", "nan".
std::string FormatDoubleShortest(double value);

}  // namespace memr1
