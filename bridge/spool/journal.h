#pragma once

// An append-only journal of opaque records in numbered segment files:
//
//   <dir>/00000000000000000001.journal   record*, record = header + payload
//   header = magic "SBJ1" | payload length (u32 LE) | CRC-32C of payload (u32 LE)
//   <dir>/drained                          "<segment> <offset>": records ending at
//                                          or before it were published (a hint)
//   <dir>/highwater                        the highest segment number ever used:
//                                          numbers are never reused, even after
//                                          every segment was released
//   <dir>/quarantine/                      records set aside, never published
//
// Every file is opened relative to the directory's own descriptor with
// O_NOFOLLOW (and the quarantine directory with O_DIRECTORY): a symlink
// planted in the directory is never followed.
//
// A torn record at the end of the newest segment (the process died inside
// write()) is cut off when the journal is opened: it was never synced, so it
// was never answered 2xx. Records are read back in order through a cursor
// (ReadNext), one at a time, so memory does not grow with the backlog.
// Not thread-safe: the spool serializes access.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
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
};

/// A place in the journal: the record starting at `offset` of `segment`.
struct JournalPosition {
  uint64_t segment = 0;
  uint64_t offset = 0;
  friend bool operator<(const JournalPosition& a, const JournalPosition& b) {
    return a.segment != b.segment ? a.segment < b.segment : a.offset < b.offset;
  }
};

class Journal {
 public:
  static constexpr uint32_t kHeaderBytes = 12;
  /// Sees each record not yet drained, in order, while the journal is opened.
  /// The payload is only valid during the call.
  using Visitor = std::function<void(const JournalEntry& where, std::string_view payload)>;

  /// Opens (creating) `dir`, streams the records not yet drained to `visit`
  /// (one at a time: memory does not grow with the backlog) and sets the read
  /// cursor on the first of them. Fails with a sentence in `error` when the
  /// directory is unusable.
  static std::unique_ptr<Journal> Open(const std::string& dir, uint64_t segment_bytes,
                                       const Visitor& visit, std::string& error);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Writes one record to the newest segment (not yet synced). Returns false
  /// with `error` on an I/O error; the journal is then unusable.
  bool Append(std::string_view payload, JournalEntry& where, std::string& error);
  /// Where the next Append() writes (a record's seal binds it).
  JournalPosition next_append() const { return {active_, active_size()}; }
  /// True when a record of `payload_size` bytes would start a new segment.
  bool NeedsRoll(size_t payload_size) const;
  /// Syncs, closes the newest segment and starts the next one.
  bool Roll(std::string& error);
  /// The newest segment's descriptor, for fdatasync outside the spool's lock
  /// (valid until the next Roll()).
  int active_fd() const { return fd_; }
  uint64_t active_segment() const { return active_; }
  uint64_t active_size() const;

  /// The cursor: reads the next record before `limit` (the end of what is
  /// synced) into `where` and `payload`. False at the limit, or with `error`
  /// set when a record cannot be read (the rest of its segment is skipped).
  bool ReadNext(JournalPosition limit, JournalEntry& where, std::string& payload,
                std::string& error);
  /// Where the cursor reads next: every segment before its segment was read.
  JournalPosition read_position() const { return read_; }

  /// Reads back a record's payload (any thread: its own descriptor).
  bool Read(const JournalEntry& where, std::string& payload, std::string& error) const;
  /// Deletes a segment whose records are all drained (never the newest); a
  /// damaged one is renamed *.damaged for a person instead.
  void Release(uint64_t segment);
  /// Remembers that records up to (`segment`, `end_offset`) were drained.
  void SaveDrained(uint64_t segment, uint64_t end_offset);
  /// Writes a copy of a record that will not be published to
  /// quarantine/<segment>-<offset>.record, `kept` (empty when it could not be
  /// written). False when it was there already (set aside by an earlier pass).
  bool Quarantine(const JournalEntry& where, std::string_view payload, std::string& kept);

  /// Every segment on disk, oldest first.
  std::vector<uint64_t> segments() const;
  /// Bytes of every segment file on disk.
  uint64_t disk_bytes() const;
  const std::string& dir() const { return dir_; }
  /// Files named like segments that were not ours (renamed *.quarantined).
  uint64_t quarantined_files() const { return quarantined_files_; }

 private:
  Journal() = default;
  bool Scan(const Visitor& visit, std::string& error);
  /// The segment numbers on disk, unsorted; files named like segments that
  /// are not ours are set aside.
  bool ListSegments(std::vector<uint64_t>& segments, std::string& error);
  /// Reads one segment's records, visiting those past `drained`; the first
  /// one visited sets the read cursor (`cursor_set`). A torn tail of the
  /// `newest` segment is truncated; damage in another is recorded.
  bool ScanSegment(uint64_t segment, bool newest, const JournalPosition& drained,
                   const Visitor& visit, bool& cursor_set, std::string& error);
  bool OpenSegment(uint64_t segment, std::string& error);
  bool SaveHighWater(uint64_t segment, std::string& error);
  /// Writes `content` to `name` in the directory (temporary file, rename).
  bool ReplaceFile(const std::string& name, const std::string& content, bool sync,
                   std::string& error);
  int OpenAt(const std::string& name, int flags) const;
  std::string SegmentName(uint64_t segment) const;
  std::string SegmentPath(uint64_t segment) const;

  std::string dir_;
  uint64_t segment_bytes_ = 0;
  uint64_t active_ = 0;
  int fd_ = -1;
  int dir_fd_ = -1;
  std::map<uint64_t, uint64_t> sizes_;  // segment → bytes on disk (readable)
  std::set<uint64_t> damaged_;          // segments with unreadable bytes after `sizes_`
  JournalPosition read_;
  int read_fd_ = -1;  // of read_.segment
  uint64_t quarantined_files_ = 0;
};

}  // namespace bridge
