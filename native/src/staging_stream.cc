// A staged payload written while its request body streams in (the API's accept path).
//
// Node's fs.WriteStream writes each 64 KiB chunk of a request body on its own: one trip to
// the libuv pool per chunk, and the stream's small buffer pauses the socket after every
// chunk until that trip comes back, so a 1 GiB upload spends most of its time waiting for
// 16,384 round trips. Here the API hands over batches of chunks (several MiB each, as
// they arrived: no copy) and each batch is written at its offset with pwritev on a pool
// thread, while the socket keeps being read; the file is fsynced once, at the end.
//
//   stagingWriterOpen(path)                       -> Promise<handle>   creates (O_EXCL) the file
//   stagingWriterWrite(handle, buffers, position) -> Promise<void>     pwritev, whole
//   stagingWriterFinish(handle)                   -> Promise<void>     fsync + close
//   stagingWriterDiscard(handle)                  -> Promise<void>     close + unlink
//
// Several writes of one file may be in flight at once (disjoint ranges; the caller bounds
// how many). finish and discard refuse while writes are in flight: whoever stops a stream
// first waits for its writes. After a failed finish (fsync), discard still removes the file.
// A handle dropped without finish or discard closes its descriptor when collected (the file
// stays: the API's sweeper removes partial uploads).
//
// No HDF5, no MPI, no ApiLock, no Turn: like staging_io.cc, these never wait behind a
// collective write. Built as an addon of its own (ph5_staging.node, see binding.gyp): the
// API loads it without mapping OpenMPI and HDF5 into its process. Failures reject with Node fs-shaped errors (`code` 'ENOSPC', `errno`,
// `syscall`, `path`); misuse (a write after finish, finish with writes in flight) with
// code 'PH5_ERR_STAGING'.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <napi.h>

#include <optional>

namespace ph5 {
namespace {

// Arguments the call cannot take: thrown synchronously, code PH5_ERR_ARGUMENT (as the
// main addon's), which the TypeScript wrapper turns into a rejection.
[[noreturn]] void ThrowArgument(Napi::Env env, const std::string& message) {
  Napi::TypeError e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "PH5_ERR_ARGUMENT"));
  throw e;
}

std::string ToString(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) ThrowArgument(env, what + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) ThrowArgument(env, what + " must not contain a NUL byte");
  return s;
}

enum class WriterState { kOpen, kClosing, kClosed };

// One staged file. The JS thread owns `state` and `inFlight`; `fd` is read by write
// workers while open and closed only by the finish/discard worker, which runs when no
// write is in flight (checked on the JS thread before it is queued).
struct StagingFile {
  std::string path;
  int fd = -1;
  WriterState state = WriterState::kOpen;
  int inFlight = 0;

  ~StagingFile() {
    if (fd >= 0) close(fd);
  }
};

using FilePtr = std::shared_ptr<StagingFile>;

struct StreamFailure {
  int err;              // errno, or 0 for a misuse (code PH5_ERR_STAGING)
  std::string syscall;  // or the message, for a misuse
  std::string path;
};

[[noreturn]] void FailSys(const char* syscall, const std::string& path) { throw StreamFailure{errno, syscall, path}; }

template <typename F>
auto Retry(F f) -> decltype(f()) {
  decltype(f()) r;
  do r = f();
  while (r < 0 && errno == EINTR);
  return r;
}

Napi::Error StreamError(Napi::Env env, const StreamFailure& f) {
  if (f.err == 0) {
    Napi::Error e = Napi::Error::New(env, f.syscall);
    e.Set("code", Napi::String::New(env, "PH5_ERR_STAGING"));
    if (!f.path.empty()) e.Set("path", Napi::String::New(env, f.path));
    return e;
  }
  // As Node words it: "ENOSPC: no space left on device, write '/data/.staging/x.partial'".
  const char* name = uv_err_name(-f.err);
  std::string message = std::string(name) + ": " + std::strerror(f.err) + ", " + f.syscall;
  if (!f.path.empty()) message += " '" + f.path + "'";
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, name));
  e.Set("errno", Napi::Number::New(env, -f.err));
  e.Set("syscall", Napi::String::New(env, f.syscall));
  if (!f.path.empty()) e.Set("path", Napi::String::New(env, f.path));
  return e;
}

// Base of the calls: a Promise settled on the JS thread; After() runs there first, either way.
class StreamCall : public Napi::AsyncWorker {
 public:
  StreamCall(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name) {}

  Napi::Promise Start() {
    deferred_.emplace(Napi::Promise::Deferred::New(Env()));
    Queue();
    return deferred_->Promise();
  }

 protected:
  virtual void Run() = 0;
  virtual void After() {}
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

 private:
  void Execute() final {
    try {
      Run();
    } catch (const StreamFailure& f) {
      failure_ = f;
      SetError(f.syscall);
    } catch (const std::exception& e) {
      failure_ = StreamFailure{EIO, std::string("internal error: ") + e.what(), ""};
      SetError(e.what());
    } catch (...) {
      failure_ = StreamFailure{EIO, "internal error", ""};
      SetError("internal error");
    }
  }

  void OnOK() final {
    After();
    deferred_->Resolve(Result(Env()));
  }

  void OnError(const Napi::Error&) final {
    After();
    deferred_->Reject(StreamError(Env(), failure_).Value());
  }

  std::optional<Napi::Promise::Deferred> deferred_;
  StreamFailure failure_{0, "", ""};
};

// The handle JS holds: an External owning one reference to the file.
Napi::Value Wrap(Napi::Env env, FilePtr file) {
  return Napi::External<FilePtr>::New(env, new FilePtr(std::move(file)), [](Napi::Env, FilePtr* p) { delete p; });
}

FilePtr Unwrap(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal()) ThrowArgument(env, "handle must be a staging writer handle");
  FilePtr* p = v.As<Napi::External<FilePtr>>().Data();
  if (p == nullptr || !*p) ThrowArgument(env, "handle must be a staging writer handle");
  return *p;
}

// Refusals of a call the file's state does not allow: a rejected Promise, not a throw.
Napi::Value Refuse(Napi::Env env, const std::string& message, const std::string& path) {
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(StreamError(env, StreamFailure{0, message, path}).Value());
  return d.Promise();
}

// ---------------------------------------------------------------------------------------
class OpenCall : public StreamCall {
 public:
  OpenCall(Napi::Env env, std::string path) : StreamCall(env, "ph5.stagingWriterOpen"), file_(std::make_shared<StagingFile>()) {
    file_->path = std::move(path);
  }

 protected:
  void Run() override {
    int fd = Retry([&] { return open(file_->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666); });
    if (fd < 0) FailSys("open", file_->path);
    file_->fd = fd;
  }
  Napi::Value Result(Napi::Env env) override { return Wrap(env, file_); }

 private:
  FilePtr file_;
};

Napi::Value Open(const Napi::CallbackInfo& info) {
  auto* call = new OpenCall(info.Env(), ToString(info.Env(), info[0], "path"));
  return call->Start();
}

// ---------------------------------------------------------------------------------------
// What a write reads: the caller's array of Buffers is referenced (one reference for the
// whole batch, not one per Buffer) until the write settles, so GC cannot free them.
struct Chunk {
  uint8_t* data;
  size_t length;
};

class WriteCall : public StreamCall {
 public:
  WriteCall(Napi::Env env, FilePtr file, Napi::Array held, std::vector<Chunk> chunks, off_t position)
      : StreamCall(env, "ph5.stagingWriterWrite"),
        file_(std::move(file)),
        held_(Napi::Persistent(held)),
        chunks_(std::move(chunks)),
        position_(position) {
    file_->inFlight++;
  }

 protected:
  // pwritev in batches of at most IOV_MAX buffers, resuming after short writes.
  void Run() override {
    std::vector<iovec> iov;
    iov.reserve(chunks_.size());
    for (const auto& c : chunks_)
      if (c.length > 0) iov.push_back(iovec{c.data, c.length});
    size_t at = 0;
    off_t position = position_;
    while (at < iov.size()) {
      int n = static_cast<int>(std::min<size_t>(iov.size() - at, IOV_MAX));
      ssize_t wrote = Retry([&] { return pwritev(file_->fd, &iov[at], n, position); });
      if (wrote < 0) FailSys("write", file_->path);
      if (wrote == 0) {  // never for a regular file; not a reason to spin
        errno = EIO;
        FailSys("write", file_->path);
      }
      position += wrote;
      size_t left = static_cast<size_t>(wrote);
      while (at < iov.size() && left >= iov[at].iov_len) left -= iov[at++].iov_len;
      if (left > 0) {
        iov[at].iov_base = static_cast<uint8_t*>(iov[at].iov_base) + left;
        iov[at].iov_len -= left;
      }
    }
  }
  void After() override { file_->inFlight--; }

 private:
  FilePtr file_;
  Napi::Reference<Napi::Array> held_;
  std::vector<Chunk> chunks_;
  off_t position_;
};

Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilePtr file = Unwrap(env, info[0]);
  if (!info[1].IsArray()) ThrowArgument(env, "buffers must be an array of Buffers");
  Napi::Value pos = info[2];
  double position = pos.IsNumber() ? pos.As<Napi::Number>().DoubleValue() : -1;
  if (!(position >= 0) || position > 9007199254740991.0 || position != static_cast<double>(static_cast<uint64_t>(position)))
    ThrowArgument(env, "position must be a non-negative integer");
  if (file->state != WriterState::kOpen) return Refuse(env, "the staging writer is finished or discarded", file->path);
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<Chunk> chunks;
  chunks.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsBuffer()) ThrowArgument(env, "buffers[" + std::to_string(i) + "] must be a Buffer");
    auto b = v.As<Napi::Buffer<uint8_t>>();
    chunks.push_back(Chunk{b.Data(), b.Length()});
  }
  // The array must not change until the write settles (the caller's contract): it is what
  // keeps the Buffers alive.
  auto* call = new WriteCall(env, std::move(file), arr, std::move(chunks), static_cast<off_t>(position));
  return call->Start();
}

// ---------------------------------------------------------------------------------------
// finish: fsync, then close. A failed fsync still closes (the descriptor is of no further
// use: after a failed fsync the pages' state is unknown) and rejects; discard then removes
// the file.
class FinishCall : public StreamCall {
 public:
  FinishCall(Napi::Env env, FilePtr file) : StreamCall(env, "ph5.stagingWriterFinish"), file_(std::move(file)) {
    file_->state = WriterState::kClosing;
  }

 protected:
  void Run() override {
    int fd = file_->fd;
    file_->fd = -1;
    if (Retry([&] { return fsync(fd); }) < 0) {
      int err = errno;
      close(fd);
      errno = err;
      FailSys("fsync", file_->path);
    }
    // close() after a successful fsync cannot lose data (on Linux the descriptor is gone
    // whatever it returns).
    close(fd);
  }
  void After() override { file_->state = WriterState::kClosed; }

 private:
  FilePtr file_;
};

Napi::Value Finish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilePtr file = Unwrap(env, info[0]);
  if (file->state != WriterState::kOpen) return Refuse(env, "the staging writer is already finished or discarded", file->path);
  if (file->inFlight > 0) return Refuse(env, "the staging writer still has writes in flight", file->path);
  auto* call = new FinishCall(env, std::move(file));
  return call->Start();
}

// ---------------------------------------------------------------------------------------
// discard: close (if still open) and unlink; a file already gone is not an error.
class DiscardCall : public StreamCall {
 public:
  DiscardCall(Napi::Env env, FilePtr file) : StreamCall(env, "ph5.stagingWriterDiscard"), file_(std::move(file)) {
    file_->state = WriterState::kClosing;
  }

 protected:
  void Run() override {
    if (file_->fd >= 0) {
      close(file_->fd);
      file_->fd = -1;
    }
    if (unlink(file_->path.c_str()) < 0 && errno != ENOENT) FailSys("unlink", file_->path);
  }
  void After() override { file_->state = WriterState::kClosed; }

 private:
  FilePtr file_;
};

Napi::Value Discard(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilePtr file = Unwrap(env, info[0]);
  if (file->state == WriterState::kClosing) return Refuse(env, "the staging writer is being finished or discarded", file->path);
  if (file->inFlight > 0) return Refuse(env, "the staging writer still has writes in flight", file->path);
  auto* call = new DiscardCall(env, std::move(file));
  return call->Start();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("stagingWriterOpen", Napi::Function::New(env, Open, "stagingWriterOpen"));
  exports.Set("stagingWriterWrite", Napi::Function::New(env, Write, "stagingWriterWrite"));
  exports.Set("stagingWriterFinish", Napi::Function::New(env, Finish, "stagingWriterFinish"));
  exports.Set("stagingWriterDiscard", Napi::Function::New(env, Discard, "stagingWriterDiscard"));
  return exports;
}

}  // namespace
}  // namespace ph5

static Napi::Object InitStaging(Napi::Env env, Napi::Object exports) { return ph5::Init(env, exports); }

NODE_API_MODULE(ph5_staging, InitStaging)
