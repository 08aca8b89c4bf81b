#pragma once

// Names the calling thread (15 characters at most) so that top -H, perf and
// /proc/<pid>/task show which part of schedbridge spends what.

#include <pthread.h>

namespace bridge {

inline void NameThisThread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace bridge
