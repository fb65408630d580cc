// SHA-256 on a thread of its own, beside the writer of a firmware image
// (decisions 0064 and 0067).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "myelin/runtime/platform/signing.hpp"
#include "myelin/runtime/platform/thread_name.hpp"

namespace myelin::runtime {

/// A runtime::sha256 fed on a thread of its own, so that hashing overlaps with
/// writing (an install is CPU-bound otherwise: hash, then copy into the page
/// cache, one after the other on one core). The hashing thread may lag behind
/// by a few pieces, so that neither side waits for the other at every block.
/// A piece is either copied into one of the queue's buffers (update) or, when
/// its owner lends it, hashed where it lies and its `keep` released once
/// hashed (update_lent) — which saves a copy of every byte (decision 0067).
class sha256_alongside {
 public:
  static constexpr size_t buffer_size = 1 << 20;
  static constexpr size_t slots = 8;

  sha256_alongside()
      : worker_([this] {
          name_this_thread("sha256");
          run();
        }) {}

  ~sha256_alongside() {
    {
      std::lock_guard<std::mutex> lock{mtx_};
      quit_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  sha256_alongside(const sha256_alongside&) = delete;
  sha256_alongside& operator=(const sha256_alongside&) = delete;

  /// Queues [data, data + size) for hashing (copied; blocks while the queue
  /// is full).
  void update(const void* data, size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      auto n = std::min(size, buffer_size);
      auto& s = free_slot();
      if (!s.own) {
        s.own.reset(new char[buffer_size]);
      }
      std::memcpy(s.own.get(), p, n);
      s.data = s.own.get();
      s.size = n;
      enqueue();
      p += n;
      size -= n;
    }
  }

  /// Queues [data, data + size) for hashing where it lies: the bytes must
  /// stay valid while `keep` lives; the queue holds a copy of `keep` until
  /// they are hashed (blocks while the queue is full).
  void update_lent(const void* data, size_t size, std::shared_ptr<const void> keep) {
    auto& s = free_slot();
    s.data = static_cast<const char*>(data);
    s.size = size;
    s.keep = std::move(keep);
    enqueue();
  }

  /// The digest of everything queued (waits until it is hashed).
  std::string finish_hex() {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait(lock, [this] { return queued_ == 0; });
    return hash_.finish_hex();
  }

 private:
  struct slot {
    std::unique_ptr<char[]> own;  // the copy buffer, allocated on first use
    const char* data = nullptr;
    size_t size = 0;
    std::shared_ptr<const void> keep;  // a lent piece's owner
  };

  /// The slot the next piece goes into (waits for one). Only the producer
  /// fills slots, and the worker touches none that is not queued.
  slot& free_slot() {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait(lock, [this] { return queued_ < slots; });
    return slots_[(head_ + queued_) % slots];
  }

  void enqueue() {
    std::lock_guard<std::mutex> lock{mtx_};
    ++queued_;
    cv_.notify_all();
  }

  void run() {
    std::unique_lock<std::mutex> lock{mtx_};
    while (true) {
      cv_.wait(lock, [this] { return queued_ > 0 || quit_; });
      if (queued_ == 0) {
        return;
      }
      auto& s = slots_[head_];
      lock.unlock();
      hash_.update(s.data, s.size);
      s.keep.reset();  // the owner may reuse the bytes now
      lock.lock();
      head_ = (head_ + 1) % slots;
      --queued_;
      cv_.notify_all();
    }
  }

  sha256 hash_;
  std::mutex mtx_;
  std::condition_variable cv_;
  slot slots_[slots];
  size_t head_ = 0;
  size_t queued_ = 0;
  bool quit_ = false;
  std::thread worker_;
};

}  // namespace myelin::runtime
