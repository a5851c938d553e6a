#include "memstore/names.h"

#include <gtest/gtest.h>

#include "memstore/shard_router.h"
#include "memstore/tokenizer.h"

namespace memr1::memstore {
namespace {

TEST(NamesTest, MemoryIdsRoundTripAndMalformedOnesAreRejected) {
  EXPECT_EQ(MemoryIdFromNumber(42), "m42");
  EXPECT_EQ(*ParseMemoryId("m42"), 42u);
  for (const char* bad : {"", "m", "m0", "m01", "42", "M4", "m4x", "m-1", "m99999999999999999999"}) {
    EXPECT_EQ(ParseMemoryId(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(NamesTest, BankAndJobNames) {
  EXPECT_TRUE(ValidateBankName("conv-26/episode:3.g_1").ok());
  EXPECT_FALSE(ValidateBankName("").ok());
  EXPECT_FALSE(ValidateBankName("/x").ok());
  EXPECT_FALSE(ValidateBankName(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(ValidateBankName(std::string(201, 'a')).ok());
  EXPECT_TRUE(ValidateJobName("job-1.a_b").ok());
  EXPECT_FALSE(ValidateJobName("a/b").ok());
}

TEST(TokenizerTest, SplitsOnNonAlphanumericsAndLowercases) {
  EXPECT_EQ(Tokenize("Caroline went to the LGBTQ group, on 7-May-2023!"),
            (std::vector<std::string>{"caroline", "went", "to", "the", "lgbtq", "group", "on",
                                      "7", "may", "2023"}));
  EXPECT_EQ(Tokenize("café Zürich"), (std::vector<std::string>{"café", "zürich"}));
  EXPECT_TRUE(Tokenize(" ,.! ").empty());
}

TEST(HashRingTest, RoutesStablyAndKeepsForksWithTheirSource) {
  auto ring = HashRing::Create({"a:1", "b:2", "c:3"});
  ASSERT_TRUE(ring.ok());
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 300; ++i) {
    const std::string bank = "episode-" + std::to_string(i);
    const int shard = ring->ShardFor(bank);
    ++counts[shard];
    EXPECT_EQ(ring->ShardFor(bank + "/g7"), shard);
  }
  for (int count : counts) EXPECT_GT(count, 50);
  // Adding a shard moves only some banks.
  auto bigger = HashRing::Create({"a:1", "b:2", "c:3", "d:4"});
  int moved = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string bank = "episode-" + std::to_string(i);
    if (bigger->ShardFor(bank) != ring->ShardFor(bank)) ++moved;
  }
  EXPECT_LT(moved, 150);
  EXPECT_NE(ring->fingerprint(), bigger->fingerprint());
  EXPECT_EQ(HashRing::Create({"a:1", "a:1"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashRing::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memr1::memstore
