// Incremental SHA-256 on OpenSSL's EVP interface (SHA-NI / AVX2 where the CPU
// has them), for hashing firmware images at disk speed (decision 0062).
#pragma once

#include <openssl/evp.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace myelin::runtime {

/// Same digests as runtime::sha256 (libsodium), several times faster on large data.
class sha256_stream {
 public:
  sha256_stream() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }

  void update(const void* data, size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }

  /// The digest as 64 lowercase hex characters; the object is spent afterwards.
  std::string finish_hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &len);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += hex[digest[i] >> 4];
      out += hex[digest[i] & 0xf];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

/// A sha256_stream fed on a thread of its own, so that hashing overlaps with
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

  sha256_alongside() : worker_([this] { run(); }) {}

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

  sha256_stream hash_;
  std::mutex mtx_;
  std::condition_variable cv_;
  slot slots_[slots];
  size_t head_ = 0;
  size_t queued_ = 0;
  bool quit_ = false;
  std::thread worker_;
};

}  // namespace myelin::runtime
