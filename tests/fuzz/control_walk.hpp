// The fuzz targets' own model of a control-message area, written from the cmsg(3) layout and
// independent of the parsers under test: every message whose header and whole cmsg_len lie inside
// the area, in order, each starting CMSG_ALIGN(previous cmsg_len) after the previous one. A parser
// may stop earlier (glibc's CMSG_NXTHDR also wants the padding to fit), never later: whatever a
// parser reports must come from one of these messages.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace salvo::fuzz {

struct ControlMessage {
  int level = 0;
  int type = 0;
  std::span<const unsigned char> data;  // cmsg_len - CMSG_LEN(0) bytes, inside the area
};

inline std::vector<ControlMessage> walk_control(const unsigned char* area, std::size_t length) {
  std::vector<ControlMessage> messages;
  std::size_t offset = 0;
  while (length - offset >= sizeof(cmsghdr)) {
    cmsghdr header;
    std::memcpy(&header, area + offset, sizeof header);
    if (header.cmsg_len < CMSG_LEN(0) || header.cmsg_len > length - offset) break;
    messages.push_back({header.cmsg_level, header.cmsg_type,
                        {area + offset + CMSG_LEN(0), header.cmsg_len - CMSG_LEN(0)}});
    const std::size_t step = CMSG_ALIGN(header.cmsg_len);
    if (step > length - offset) break;
    offset += step;
  }
  return messages;
}

// Whether some message of (level, type) with at least `size` data bytes starts with `value`'s bytes.
template <class T>
bool some_message_holds(const std::vector<ControlMessage>& messages, int level, int type, const T& value) {
  for (const ControlMessage& m : messages) {
    if (m.level == level && m.type == type && m.data.size() >= sizeof value &&
        std::memcmp(m.data.data(), &value, sizeof value) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace salvo::fuzz
