#include "eval/unicode_text.h"

#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

namespace memr1::eval {

std::u32string DecodeUtf8(absl::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char b = bytes[i];
    int length = 0;
    char32_t c = 0;
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      length = 2;
      c = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      length = 3;
      c = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      length = 4;
      c = b & 0x07;
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    bool valid = i + length <= n;
    for (int k = 1; valid && k < length; ++k) {
      const unsigned char next = bytes[i + k];
      if ((next & 0xC0) != 0x80) {
        valid = false;
      } else {
        c = (c << 6) | (next & 0x3F);
      }
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if (valid) {
      static constexpr char32_t kMinimum[5] = {0, 0, 0x80, 0x800, 0x10000};
      valid = c >= kMinimum[length] && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    }
    if (!valid) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(c);
    i += length;
  }
  return out;
}

std::string EncodeUtf8(const std::u32string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

std::u32string PythonLower(const std::u32string& text) {
  bool ascii = true;
  for (char32_t c : text) {
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    std::u32string out = text;
    for (char32_t& c : out) {
      if (c >= 'A' && c <= 'Z') c = c - 'A' + 'a';
    }
    return out;
  }
  // ICU works on UTF-16; full case mapping can grow the text (at most 3x per code unit).
  std::u16string utf16;
  utf16.reserve(text.size() * 2);
  for (char32_t c : text) {
    if (c >= 0x10000) {
      utf16.push_back(static_cast<char16_t>(U16_LEAD(c)));
      utf16.push_back(static_cast<char16_t>(U16_TRAIL(c)));
    } else {
      utf16.push_back(static_cast<char16_t>(c));
    }
  }
  std::u16string lowered(utf16.size() * 3 + 1, u'\0');
  UErrorCode error = U_ZERO_ERROR;
  const int32_t length =
      u_strToLower(reinterpret_cast<UChar*>(lowered.data()), static_cast<int32_t>(lowered.size()),
                   reinterpret_cast<const UChar*>(utf16.data()),
                   static_cast<int32_t>(utf16.size()), "", &error);
  if (U_FAILURE(error)) return text;  // cannot happen with the buffer above; keep the input
  std::u32string out;
  out.reserve(length);
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U16_NEXT(lowered.data(), i, length, c);
    out.push_back(static_cast<char32_t>(c));
  }
  return out;
}

std::string PythonLower(absl::string_view text) {
  bool ascii = true;
  for (char ch : text) {
    if (static_cast<unsigned char>(ch) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    std::string out(text);
    for (char& ch : out) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    }
    return out;
  }
  return EncodeUtf8(PythonLower(DecodeUtf8(text)));
}

bool IsPythonWordChar(char32_t c) {
  if (c < 0x80) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
  }
  const UChar32 u = static_cast<UChar32>(c);
  return u_isalpha(u) || u_getIntPropertyValue(u, UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

bool IsAsciiPunctuation(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

std::vector<std::u32string> PythonSplit(const std::u32string& text) {
  std::vector<std::u32string> parts;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsPythonSpace(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !IsPythonSpace(text[i])) ++i;
    if (i > start) parts.push_back(text.substr(start, i - start));
  }
  return parts;
}

std::vector<std::string> PythonSplit(absl::string_view text) {
  std::vector<std::string> parts;
  for (const std::u32string& part : PythonSplit(DecodeUtf8(text))) {
    parts.push_back(EncodeUtf8(part));
  }
  return parts;
}

std::string PythonStrip(absl::string_view text) {
  const std::u32string decoded = DecodeUtf8(text);
  size_t begin = 0;
  size_t end = decoded.size();
  while (begin < end && IsPythonSpace(decoded[begin])) ++begin;
  while (end > begin && IsPythonSpace(decoded[end - 1])) --end;
  return EncodeUtf8(decoded.substr(begin, end - begin));
}

}  // namespace memr1::eval
