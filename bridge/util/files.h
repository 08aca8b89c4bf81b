#pragma once

// Writing a file that a local user must not be able to redirect or read
// half-written: the commands' outputs (SavvyCal's issued secret, reconcile's
// metrics textfile) land in directories other users may write.

#include <sys/types.h>

#include <string>

namespace bridge::files {

/// Replaces `path` with `content`, atomically and durably: a new file is
/// created next to it (O_CREAT|O_EXCL|O_NOFOLLOW, so a planted file or
/// symlink is never written through) with `mode`, written, fsynced, renamed
/// over `path`, and the directory fsynced. A `path` that is a symlink, or
/// not a regular file, is refused. Throws std::runtime_error naming the path
/// (never the content).
void WriteAtomically(const std::string& path, const std::string& content, mode_t mode = 0600);

}  // namespace bridge::files
