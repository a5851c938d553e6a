#include "memstore/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace memr1::memstore {
namespace {

bool IsNameChar(char c, absl::string_view extra) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         extra.find(c) != absl::string_view::npos;
}

// A printable rendering of a rejected name for error messages (cut to 64 characters).
std::string Quote(absl::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    if (absl::ascii_isprint(static_cast<unsigned char>(c))) {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  if (text.size() > 64) out += "...";
  return absl::StrCat("'", out, "'");
}

}  // namespace

absl::Status ValidateJobName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxJobNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("job name ", Quote(name), ": must be 1-128 characters"));
  }
  for (char c : name) {
    if (!IsNameChar(c, "._-")) {
      return absl::InvalidArgumentError(
          absl::StrCat("job name ", Quote(name), ": only letters, digits and . _ - allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBankName(absl::string_view name, absl::string_view what) {
  if (name.empty() || name.size() > kMaxBankNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " name ", Quote(name), ": must be 1-200 characters"));
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " name ", Quote(name), ": must start with a letter or digit"));
  }
  for (char c : name) {
    if (!IsNameChar(c, "._:/-")) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " name ", Quote(name), ": only letters, digits and . _ : / - allowed"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRequestId(absl::string_view request_id) {
  if (request_id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id ", Quote(request_id), " has ",
                                                   request_id.size(),
                                                   " bytes; at most 256 allowed"));
  }
  return absl::OkStatus();
}

std::string MemoryIdFromNumber(uint64_t number) { return absl::StrCat("m", number); }

absl::StatusOr<uint64_t> ParseMemoryId(absl::string_view id, absl::string_view what) {
  uint64_t number = 0;
  const bool ok = id.size() >= 2 && id.size() <= 20 && id[0] == 'm' && id[1] != '0' &&
                  absl::SimpleAtoi(id.substr(1), &number) && number > 0 &&
                  MemoryIdFromNumber(number) == id;
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", Quote(id), " is malformed (expected m<N>, e.g. m12)"));
  }
  return number;
}

namespace internal {

void AppendBigEndian64(uint64_t value, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

static void AppendBigEndian32(uint32_t value, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian64(absl::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

std::string JobPrefix(absl::string_view job) { return absl::StrCat(job, absl::string_view("\0", 1)); }

std::string BankDataPrefix(absl::string_view job, uint64_t uid) {
  std::string key = JobPrefix(job);
  AppendBigEndian64(uid, &key);
  return key;
}

std::string MemoryPrefix(absl::string_view job, uint64_t uid, uint64_t memory) {
  std::string key = BankDataPrefix(job, uid);
  AppendBigEndian64(memory, &key);
  return key;
}

std::string VersionKey(absl::string_view job, uint64_t uid, uint64_t memory, uint64_t seq,
                       uint32_t op_index) {
  std::string key = MemoryPrefix(job, uid, memory);
  AppendBigEndian64(seq, &key);
  AppendBigEndian32(op_index, &key);
  return key;
}

std::string OpLogKey(absl::string_view job, uint64_t uid, uint64_t seq, uint32_t op_index) {
  std::string key = BankDataPrefix(job, uid);
  AppendBigEndian64(seq, &key);
  AppendBigEndian32(op_index, &key);
  return key;
}

std::string RequestKey(absl::string_view job, uint64_t uid, absl::string_view request_id) {
  return absl::StrCat(BankDataPrefix(job, uid), request_id);
}

std::string BankNameKey(absl::string_view job, absl::string_view name) {
  return absl::StrCat("n", JobPrefix(job), name);
}

std::string BankUidKey(absl::string_view job, uint64_t uid) {
  return absl::StrCat("u", BankDataPrefix(job, uid));
}

std::string ChildPrefix(absl::string_view job, uint64_t parent) {
  return absl::StrCat("c", BankDataPrefix(job, parent));
}

std::string ChildKey(absl::string_view job, uint64_t parent, uint64_t child) {
  std::string key = ChildPrefix(job, parent);
  AppendBigEndian64(child, &key);
  return key;
}

std::string ExpiryKey(int64_t expires_unix_micros, absl::string_view job,
                      absl::string_view name) {
  std::string key = "x";
  AppendBigEndian64(static_cast<uint64_t>(expires_unix_micros), &key);
  absl::StrAppend(&key, JobPrefix(job), name);
  return key;
}

std::string PrefixSuccessor(absl::string_view prefix) {
  std::string limit(prefix);
  while (!limit.empty()) {
    unsigned char last = static_cast<unsigned char>(limit.back());
    if (last != 0xff) {
      limit.back() = static_cast<char>(last + 1);
      return limit;
    }
    limit.pop_back();
  }
  return limit;  // every key: callers never pass an all-0xff prefix
}

}  // namespace internal
}  // namespace memr1::memstore
