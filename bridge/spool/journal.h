#pragma once

// An append-only journal of opaque records in numbered segment files:
//
//   <dir>/00000000000000000001.journal   record*, record = header + payload
//   header = magic "SBJ1" | payload length (u32 LE) | CRC-32C of payload (u32 LE)
//   <dir>/drained                          "<segment> <offset>": records ending at
//                                          or before it were published (a hint)
//
// A torn record at the end of the newest segment (the process died inside
// write()) is cut off when the journal is opened: it was never synced, so it
// was never answered 2xx. Not thread-safe: the spool serializes access.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

/// CRC-32C (Castagnoli), as used by Kafka record batches.
uint32_t Crc32c(std::string_view data);

struct JournalEntry {
  uint64_t segment = 0;
  uint64_t offset = 0;  // of the record header in its segment
  uint32_t size = 0;    // header + payload
  std::string payload;
};

class Journal {
 public:
  static constexpr uint32_t kHeaderBytes = 12;

  /// Opens (creating) `dir` and returns the records not yet drained, in order.
  /// Fails with a sentence in `error` when the directory is unusable.
  static std::unique_ptr<Journal> Open(const std::string& dir, uint64_t segment_bytes,
                                       std::vector<JournalEntry>& existing, std::string& error);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Writes one record to the newest segment (not yet synced). Returns false
  /// with `error` on an I/O error; the journal is then unusable.
  bool Append(std::string_view payload, JournalEntry& where, std::string& error);
  /// True when a record of `payload_size` bytes would start a new segment.
  bool NeedsRoll(size_t payload_size) const;
  /// Syncs, closes the newest segment and starts the next one.
  bool Roll(std::string& error);
  /// The newest segment's descriptor, for fdatasync outside the spool's lock
  /// (valid until the next Roll()).
  int active_fd() const { return fd_; }
  uint64_t active_segment() const { return active_; }
  uint64_t active_size() const;

  /// Reads back a record's payload.
  bool Read(const JournalEntry& where, std::string& payload, std::string& error) const;
  /// Deletes a segment whose records are all drained (never the newest).
  void Release(uint64_t segment);
  /// Remembers that records up to (`segment`, `end_offset`) were drained.
  void SaveDrained(uint64_t segment, uint64_t end_offset);

  /// Every segment on disk, oldest first.
  std::vector<uint64_t> segments() const;
  /// Bytes of every segment file on disk.
  uint64_t disk_bytes() const;
  const std::string& dir() const { return dir_; }
  /// Files named like segments that were not ours (renamed *.quarantined).
  uint64_t quarantined_files() const { return quarantined_files_; }

 private:
  Journal() = default;
  bool OpenSegment(uint64_t segment, std::string& error);
  std::string SegmentPath(uint64_t segment) const;

  std::string dir_;
  uint64_t segment_bytes_ = 0;
  uint64_t active_ = 0;
  int fd_ = -1;
  int dir_fd_ = -1;
  std::map<uint64_t, uint64_t> sizes_;  // segment → bytes on disk
  uint64_t quarantined_files_ = 0;
};

}  // namespace bridge
