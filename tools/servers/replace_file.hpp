// Replacing a file's whole contents in a directory other users may write to (/tmp, a shared
// textfile-collector directory) without ever opening the file itself: the new contents go to a
// fresh temporary file beside it, which is then renamed over it. What is at the file's name before
// the rename (a symlink to someone else's file, a FIFO, a hard link) is never opened, followed or
// written through; a symlink is replaced by the new file, its target left as it was.
//
// The temporary file is FILE.tmp.<12 random characters>, created with O_CREAT | O_EXCL |
// O_NOFOLLOW: whatever another user planted at a name is refused, never opened (so never a FIFO
// to block on, never a symlink to truncate through), and a collision just takes another name.
//
// Errors are one line and name FILE, never the random name, so that the same failure (a full
// disk) reads the same every time and a caller can report it once.
#pragma once

#include <string>
#include <string_view>

namespace salvo::cli {

// What is at `path` now, when it is something replace_file() must not replace: "is a FIFO (named
// pipe), not a regular file", "is a directory", "is a character device, ...", ... Empty when
// `path` is absent, a regular file or a symlink (replaced, not followed), or cannot be looked at
// (then creating the temporary file reports why).
std::string unreplaceable_reason(const std::string& path);

// Creates a temporary file the way replace_file() does and removes it again: whether FILE's
// directory takes new files. Empty, or what failed.
std::string try_create_beside(const std::string& path);

// Writes `text` to a new temporary file in `path`'s directory, fsyncs it and renames it over
// `path`, unless `path` is by then something unreplaceable_reason() refuses. With
// `sync_directory`, fsyncs the directory too, so the rename itself survives a crash. Empty, or
// what failed (the temporary file is removed then).
std::string replace_file(const std::string& path, std::string_view text, bool sync_directory);

}  // namespace salvo::cli
