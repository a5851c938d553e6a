#include "llm/unicode.h"

#include <gtest/gtest.h>

namespace memr1::llm {
namespace {

TEST(UnicodeTest, ValidateUtf8AcceptsValidAndNamesOffsetOfInvalid) {
  EXPECT_TRUE(ValidateUtf8("plain ascii, long enough for the 8-byte path").ok());
  EXPECT_TRUE(ValidateUtf8("caf\xC3\xA9 \xE4\xBD\xA0 \xF0\x9F\x98\x80").ok());
  const absl::Status bad = ValidateUtf8("abcdefghij\xC3(");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("offset 10"), std::string::npos) << bad;
  EXPECT_FALSE(ValidateUtf8("\xC0\xAF").ok());          // overlong
  EXPECT_FALSE(ValidateUtf8("\xED\xA0\x80").ok());      // surrogate
  EXPECT_FALSE(ValidateUtf8("\xF4\x90\x80\x80").ok());  // above U+10FFFF
  EXPECT_FALSE(ValidateUtf8("\xE4\xBD").ok());          // truncated
}

TEST(UnicodeTest, LossyDecodingReplacesMaximalInvalidSubsequences) {
  EXPECT_EQ(Utf8Lossy("ok"), "ok");
  // A truncated 3-byte sequence is one U+FFFD; a lone continuation byte is another.
  EXPECT_EQ(Utf8Lossy("a\xE4\xBD" "b\x80"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  EXPECT_EQ(Utf8Lossy("\xF0\x9F\x98"), "\xEF\xBF\xBD");
  EXPECT_EQ(Utf8Lossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(UnicodeTest, NfcComposesAndLeavesComposedTextAlone) {
  auto nfc = Normalize(NormalizationForm::kNfc, "cafe\xCC\x81");  // e + U+0301
  ASSERT_TRUE(nfc.ok());
  EXPECT_EQ(*nfc, "caf\xC3\xA9");
  auto same = Normalize(NormalizationForm::kNfc, "caf\xC3\xA9");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, "caf\xC3\xA9");
  auto nfd = Normalize(NormalizationForm::kNfd, "caf\xC3\xA9");
  ASSERT_TRUE(nfd.ok());
  EXPECT_EQ(*nfd, "cafe\xCC\x81");
  auto nfkc = Normalize(NormalizationForm::kNfkc, "\xEF\xAC\x81");  // U+FB01 ligature fi
  ASSERT_TRUE(nfkc.ok());
  EXPECT_EQ(*nfkc, "fi");
}

TEST(UnicodeTest, ByteLevelAlphabetIsABijection) {
  EXPECT_EQ(ByteToCodePoint()[' '], 0x120u);  // "Ġ"
  EXPECT_EQ(ByteToCodePoint()['\n'], 0x10Au);  // "Ċ"
  EXPECT_EQ(ByteToCodePoint()['a'], static_cast<char32_t>('a'));
  for (int b = 0; b < 256; ++b) EXPECT_EQ(CodePointToByte(ByteToCodePoint()[b]), b);
  EXPECT_EQ(CodePointToByte(0x4F60), -1);
}

TEST(UnicodeTest, PythonStripUsesPythonWhitespace) {
  EXPECT_EQ(PythonStrip("  \t\nhi there\r\n "), "hi there");
  EXPECT_EQ(PythonStrip("\xE3\x80\x80x\xC2\xA0"), "x");  // U+3000, U+00A0
  EXPECT_EQ(PythonStrip("\xE2\x80\x8Bx"), "\xE2\x80\x8Bx");  // U+200B is not whitespace
  EXPECT_EQ(PythonLStrip("  a "), "a ");
  EXPECT_EQ(PythonRStrip("  a "), "  a");
  EXPECT_EQ(PythonStrip("   "), "");
}

}  // namespace
}  // namespace memr1::llm
