// --start-at's parser (tools/common/start_at.hpp): each accepted form to the exact nanosecond, the
// refusals (malformed, past, too far ahead) as one line, and the RFC 3339 the reports write.
#include "common/start_at.hpp"

#include <gtest/gtest.h>

#include <string>

namespace salvo::cli {
namespace {

// 2026-12-06T14:00:00Z
constexpr std::int64_t base_s = 1796565600;
constexpr std::int64_t s_ns = 1'000'000'000;
// A "now" an hour before base, so that base and the times around it are ahead.
constexpr std::int64_t now_ns = (base_s - 3600) * s_ns;

std::int64_t parsed(const std::string& text) {
  auto r = parse_start_at(text, now_ns);
  EXPECT_TRUE(r.ok()) << text << ": " << (r ? "" : r.error().message);
  if (!r) return -1;
  EXPECT_FALSE(r->now) << text;
  return r->unix_ns;
}

std::string refusal(const std::string& text) {
  auto r = parse_start_at(text, now_ns);
  EXPECT_FALSE(r.ok()) << text;
  return r ? std::string() : r.error().message;
}

TEST(StartAt, NowIsNow) {
  auto r = parse_start_at("now", now_ns);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->now);
}

TEST(StartAt, UnixSecondsToTheNanosecond) {
  EXPECT_EQ(parsed("1796565600"), base_s * s_ns);
  EXPECT_EQ(parsed("1796565600.25"), base_s * s_ns + 250'000'000);
  EXPECT_EQ(parsed("1796565600.000000001"), base_s * s_ns + 1);
  EXPECT_EQ(parsed("1796565600.123456789"), base_s * s_ns + 123'456'789);
}

TEST(StartAt, Rfc3339InUtcAndWithOffsets) {
  EXPECT_EQ(parsed("2026-12-06T14:00:00Z"), base_s * s_ns);
  EXPECT_EQ(parsed("2026-12-06T14:00:00.250Z"), base_s * s_ns + 250'000'000);
  EXPECT_EQ(parsed("2026-12-06t14:00:00.5z"), base_s * s_ns + 500'000'000);
  EXPECT_EQ(parsed("2026-12-06 14:00:00.000000007Z"), base_s * s_ns + 7);
  // 15:00 an hour east of UTC and 08:30 five and a half hours west are both 14:00Z.
  EXPECT_EQ(parsed("2026-12-06T15:00:00+01:00"), base_s * s_ns);
  EXPECT_EQ(parsed("2026-12-06T08:30:00-05:30"), base_s * s_ns);
  // An offset that crosses midnight: 00:30 on the 7th, 11 hours east, is 13:30Z on the 6th.
  EXPECT_EQ(parsed("2026-12-07T00:30:00+11:00"), (base_s - 1800) * s_ns);
}

TEST(StartAt, LeapDaysAreDates) {
  auto r = parse_start_at("2028-02-29T00:00:00Z", now_ns);  // more than a day ahead
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 24 hours ahead"), std::string::npos) << r.error().message;
  EXPECT_NE(refusal("2027-02-29T00:00:00Z").find("not a time"), std::string::npos);
}

TEST(StartAt, MalformedTimesNameTheAcceptedForms) {
  const std::string forms =
      "not a time; give RFC 3339 (2026-12-06T14:00:00.250Z, or with an offset such as +01:00), Unix seconds "
      "(1796565600.25) or now";
  for (const std::string bad :
       {"", "tomorrow", "NOW", "-1796565600", "+1796565600", "1796565600.", "1796565600.1234567891", "1.8e9",
        "0x6B1A0B60", "2026-12-06T14:00:00", "2026-12-06", "2026-12-06T14:00Z", "2026-13-06T14:00:00Z",
        "2026-12-32T14:00:00Z", "2026-11-31T14:00:00Z", "2026-12-06T24:00:00Z", "2026-12-06T14:60:00Z",
        "2026-12-06T14:00:60Z", "2026-12-06T14:00:00+0100", "2026-12-06T14:00:00+24:00", "2026-12-06T14:00:00Zjunk",
        "2026-12-06T14:00:00 Z", " 2026-12-06T14:00:00Z"}) {
    EXPECT_EQ(refusal(bad), "--start-at '" + bad + "': " + forms) << bad;
  }
  // One printable line whatever was given.
  EXPECT_EQ(refusal("a\nb"), "--start-at 'a?b': " + forms);
}

TEST(StartAt, APastTimeIsRefusedNamingNow) {
  EXPECT_EQ(refusal("2026-12-06T12:59:59Z"),
            "--start-at 2026-12-06T12:59:59Z: that time has passed (it is now 2026-12-06T13:00:00.000000Z); give a "
            "time ahead, or now");
  EXPECT_NE(refusal("1796562000").find("that time has passed"), std::string::npos);  // exactly now
  EXPECT_NE(refusal("0000-01-01T00:00:00Z").find("that time has passed"), std::string::npos);
  EXPECT_NE(refusal("1969-12-31T23:59:59.5+00:00").find("that time has passed"), std::string::npos);
  EXPECT_EQ(parsed("1796562000.000000001"), now_ns + 1);
}

TEST(StartAt, MoreThanADayAheadIsRefused) {
  // However far: the largest times are refused as too far ahead, not misread.
  for (const std::string far : {"9999-12-31T23:59:59Z", "99999999999999999999", "2262-04-12T00:00:00Z"}) {
    EXPECT_NE(refusal(far).find("more than 24 hours ahead"), std::string::npos) << far;
  }
  EXPECT_EQ(parsed("2026-12-07T13:00:00Z"), now_ns + 24 * 3600 * s_ns);
  EXPECT_EQ(refusal("2026-12-07T13:00:00.000000001Z"),
            "--start-at 2026-12-07T13:00:00.000000001Z: more than 24 hours ahead (it is now "
            "2026-12-06T13:00:00.000000Z)");
}

TEST(StartAt, ReportsWriteRfc3339WithMicroseconds) {
  EXPECT_EQ(format_rfc3339_us(base_s * s_ns + 250'123'999), "2026-12-06T14:00:00.250123Z");
  EXPECT_EQ(format_rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_rfc3339_us(951'782'400 * s_ns), "2000-02-29T00:00:00.000000Z");
  EXPECT_EQ(unix_seconds(base_s * s_ns + 250'000'000), 1796565600.25);
  // What a report writes reads back as the same microsecond.
  const std::int64_t t = base_s * s_ns + 123'456'000;
  EXPECT_EQ(parsed(format_rfc3339_us(t)), t);
}

TEST(StartAt, WaitingForAPassedTimeReturnsAtOnce) {
  EXPECT_TRUE(sleep_until_wall_clock(wall_clock_ns() - s_ns));
}

}  // namespace
}  // namespace salvo::cli
