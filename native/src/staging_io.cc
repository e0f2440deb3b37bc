// Staged payload files, each call in ONE trip to the libuv pool.
//
// Node's fs does one pool trip per system call (open, write, fsync, close are four), and
// each trip wakes a pool thread and then the JS thread. On a loaded 2-core VM a trip costs
// about 50 us of CPU, ten times the system call itself. A group of small writes paid seven
// trips to be staged; rank 0 paid one to check the staged file's size and two to delete
// it, and every rank three to read its share of it. Here each call does all its system
// calls on one pool thread.
//
// These calls touch neither HDF5 nor MPI: they take no ApiLock and no Turn, so they never
// wait behind a long collective write, and never hold one up.
//
// Failures reject with an Error shaped like Node's fs errors (`code` 'ENOSPC', `errno`,
// `syscall`, `path`), so callers handle them as they handled fs errors; a staged file
// shorter than the ranges asked of it rejects with code PH5_ERR_STAGING.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common.h"

namespace ph5 {
namespace {

struct IoFailure {
  int err;              // errno, or 0 for a short staged file
  std::string syscall;  // or the message, for a short staged file
  std::string path;
};

[[noreturn]] void FailIo(const char* syscall, const std::string& path) { throw IoFailure{errno, syscall, path}; }

// Retries a system call interrupted by a signal.
template <typename F>
auto Retry(F f) -> decltype(f()) {
  decltype(f()) r;
  do r = f();
  while (r < 0 && errno == EINTR);
  return r;
}

// A descriptor that closes itself (close errors after a successful fsync cannot lose data).
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Base of the staging calls: a Promise settled on the JS thread, no lock, no turn.
class IoCall : public Napi::AsyncWorker {
 public:
  IoCall(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name) {}

  Napi::Promise Start() {
    deferred_.emplace(Napi::Promise::Deferred::New(Env()));
    Queue();
    return deferred_->Promise();
  }

 protected:
  virtual void Run() = 0;
  // Runs on the JS thread after success.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

 private:
  void Execute() final {
    try {
      Run();
    } catch (const IoFailure& f) {
      failure_ = f;
      SetError(f.syscall);
    } catch (const std::exception& e) {
      failure_ = IoFailure{EIO, std::string("internal error: ") + e.what(), ""};
      SetError(e.what());
    } catch (...) {
      failure_ = IoFailure{EIO, "internal error", ""};
      SetError("internal error");
    }
  }

  void OnOK() final { deferred_->Resolve(Result(Env())); }

  void OnError(const Napi::Error&) final {
    Napi::Env env = Env();
    if (failure_.err == 0) {
      Napi::Error e = Napi::Error::New(env, failure_.syscall);
      e.Set("code", Napi::String::New(env, "PH5_ERR_STAGING"));
      e.Set("path", Napi::String::New(env, failure_.path));
      deferred_->Reject(e.Value());
      return;
    }
    // As Node words it: "ENOSPC: no space left on device, write '/data/.staging/x.bin'".
    const char* name = uv_err_name(-failure_.err);
    std::string message = std::string(name) + ": " + std::strerror(failure_.err) + ", " + failure_.syscall;
    if (!failure_.path.empty()) message += " '" + failure_.path + "'";
    Napi::Error e = Napi::Error::New(env, message);
    e.Set("code", Napi::String::New(env, name));
    e.Set("errno", Napi::Number::New(env, -failure_.err));
    e.Set("syscall", Napi::String::New(env, failure_.syscall));
    if (!failure_.path.empty()) e.Set("path", Napi::String::New(env, failure_.path));
    deferred_->Reject(e.Value());
  }

  std::optional<Napi::Promise::Deferred> deferred_;
  IoFailure failure_{0, "", ""};
};

// Buffers the call reads or fills: referenced until it settles, so GC cannot free them.
struct HeldBuffer {
  Napi::Reference<Napi::Buffer<uint8_t>> ref;
  uint8_t* data;
  size_t length;
};

HeldBuffer Hold(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsBuffer()) ThrowArgument(env, what + " must be a Buffer");
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return HeldBuffer{Napi::Persistent(b), b.Data(), b.Length()};
}

std::vector<std::string> ToPaths(Napi::Env env, const Napi::Value& v) {
  if (!v.IsArray()) ThrowArgument(env, "paths must be an array of strings");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<std::string> paths;
  paths.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) paths.push_back(ToString(env, arr.Get(i), "paths[" + std::to_string(i) + "]"));
  return paths;
}

// ---------------------------------------------------------------------------------------
// stageFile(path, parts, dir): creates `path` (it must not exist), writes the parts one
// after the other, fsyncs it and then `dir` (its directory entry), closes it. On any
// failure the file is removed: nothing half-written is left behind.
class StageFileCall : public IoCall {
 public:
  StageFileCall(Napi::Env env, std::string path, std::vector<HeldBuffer> parts, std::string dir)
      : IoCall(env, "ph5.stageFile"), path_(std::move(path)), parts_(std::move(parts)), dir_(std::move(dir)) {}

 protected:
  void Run() override {
    Fd fd(Retry([&] { return open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666); }));
    if (fd.get() < 0) FailIo("open", path_);
    try {
      WriteAll(fd.get());
      if (Retry([&] { return fsync(fd.get()); }) < 0) FailIo("fsync", path_);
      Fd dir(Retry([&] { return open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); }));
      if (dir.get() < 0) FailIo("open", dir_);
      if (Retry([&] { return fsync(dir.get()); }) < 0) FailIo("fsync", dir_);
    } catch (...) {
      unlink(path_.c_str());
      throw;
    }
  }

 private:
  // writev in batches of at most IOV_MAX parts, resuming after short writes.
  void WriteAll(int fd) {
    std::vector<iovec> iov;
    iov.reserve(parts_.size());
    for (const auto& p : parts_)
      if (p.length > 0) iov.push_back(iovec{p.data, p.length});
    size_t at = 0;
    while (at < iov.size()) {
      int n = static_cast<int>(std::min<size_t>(iov.size() - at, IOV_MAX));
      ssize_t wrote = Retry([&] { return writev(fd, &iov[at], n); });
      if (wrote < 0) FailIo("write", path_);
      if (wrote == 0) {  // never for a regular file; not a reason to spin
        errno = EIO;
        FailIo("write", path_);
      }
      size_t left = static_cast<size_t>(wrote);
      while (at < iov.size() && left >= iov[at].iov_len) left -= iov[at++].iov_len;
      if (left > 0) {
        iov[at].iov_base = static_cast<uint8_t*>(iov[at].iov_base) + left;
        iov[at].iov_len -= left;
      }
    }
  }

  std::string path_;
  std::vector<HeldBuffer> parts_;
  std::string dir_;
};

Napi::Value StageFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ToString(env, info[0], "path");
  if (!info[1].IsArray()) ThrowArgument(env, "parts must be an array of Buffers");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<HeldBuffer> parts;
  parts.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) parts.push_back(Hold(env, arr.Get(i), "parts[" + std::to_string(i) + "]"));
  std::string dir = ToString(env, info[2], "dir");
  auto* call = new StageFileCall(env, std::move(path), std::move(parts), std::move(dir));
  return call->Start();
}

// ---------------------------------------------------------------------------------------
// readRanges(reads, into): for each { path, ranges }, opens the file once and reads each
// range [into, offset, length] (flat triples) to `into` at `into`, whole.
struct FileReads {
  std::string path;
  std::vector<double> ranges;  // into, offset, length, ...
};

class ReadRangesCall : public IoCall {
 public:
  ReadRangesCall(Napi::Env env, std::vector<FileReads> reads, HeldBuffer into)
      : IoCall(env, "ph5.readRanges"), reads_(std::move(reads)), into_(std::move(into)) {}

 protected:
  void Run() override {
    for (const auto& r : reads_) {
      Fd fd(Retry([&] { return open(r.path.c_str(), O_RDONLY | O_CLOEXEC); }));
      if (fd.get() < 0) FailIo("open", r.path);
      for (size_t i = 0; i + 2 < r.ranges.size(); i += 3) {
        size_t into = static_cast<size_t>(r.ranges[i]);
        off_t offset = static_cast<off_t>(r.ranges[i + 1]);
        size_t length = static_cast<size_t>(r.ranges[i + 2]);
        size_t done = 0;
        while (done < length) {
          ssize_t got = Retry([&] { return pread(fd.get(), into_.data + into + done, length - done, offset + static_cast<off_t>(done)); });
          if (got < 0) FailIo("read", r.path);
          if (got == 0) {
            const char* base = std::strrchr(r.path.c_str(), '/');
            throw IoFailure{0, std::string("staged payload ") + (base ? base + 1 : r.path.c_str()) + " is shorter than expected", r.path};
          }
          done += static_cast<size_t>(got);
        }
      }
    }
  }

 private:
  std::vector<FileReads> reads_;
  HeldBuffer into_;
};

Napi::Value ReadRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) ThrowArgument(env, "reads must be an array of { path, ranges }");
  HeldBuffer into = Hold(env, info[1], "into");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<FileReads> reads;
  reads.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    std::string what = "reads[" + std::to_string(i) + "]";
    if (!arr.Get(i).IsObject()) ThrowArgument(env, what + " must be an object");
    Napi::Object o = arr.Get(i).As<Napi::Object>();
    FileReads r{ToString(env, o.Get("path"), what + ".path"), {}};
    if (!o.Get("ranges").IsArray()) ThrowArgument(env, what + ".ranges must be an array of numbers");
    Napi::Array ranges = o.Get("ranges").As<Napi::Array>();
    if (ranges.Length() % 3 != 0) ThrowArgument(env, what + ".ranges must hold [into, offset, length] triples");
    for (uint32_t k = 0; k < ranges.Length(); k++) {
      Napi::Value x = ranges.Get(k);
      double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d)))
        ThrowArgument(env, what + ".ranges[" + std::to_string(k) + "] must be a non-negative integer");
      r.ranges.push_back(d);
    }
    // Every range must land inside `into`: checked here, on the JS thread, not trusted.
    for (size_t k = 0; k < r.ranges.size(); k += 3)
      if (r.ranges[k] + r.ranges[k + 2] > static_cast<double>(into.length))
        ThrowArgument(env, what + ": a range ends past the end of the buffer");
    reads.push_back(std::move(r));
  }
  auto* call = new ReadRangesCall(env, std::move(reads), std::move(into));
  return call->Start();
}

// ---------------------------------------------------------------------------------------
// mapRange(path, offset, length): bytes [offset, offset+length) of a staged file as a
// read-only Buffer backed by the file's own pages (mmap, populated up front), not copied.
// A write step hands it to H5Dwrite as is: the staged bytes are copied once (into the
// HDF5 file) instead of twice (read into a buffer, then written). Staged files never
// change once staged (created O_EXCL, fsynced, then only read and unlinked), and the size
// is checked before mapping, so no access can fall past the end of the file (SIGBUS).
//
// releaseMapping(buffer): the file's pages leave the Buffer now, not when the Buffer is
// garbage-collected: its range is replaced by anonymous zero pages, so the staged file's
// pages (tmpfs memory, once it is unlinked) are freed at once, and a stray later read of
// the Buffer sees zeros rather than crashing. The address range itself is unmapped by the
// Buffer's finalizer.
struct Mapping {
  void* base;
  size_t length;
  bool released = false;
};

// Live mappings by the data pointer of their Buffer (JS thread only).
std::map<const uint8_t*, Mapping*>& Mappings() {
  static std::map<const uint8_t*, Mapping*> mappings;
  return mappings;
}

class MapRangeCall : public IoCall {
 public:
  MapRangeCall(Napi::Env env, std::string path, uint64_t offset, size_t length)
      : IoCall(env, "ph5.mapRange"), path_(std::move(path)), offset_(offset), length_(length) {}

  ~MapRangeCall() override {
    if (base_ != nullptr) munmap(base_, mapped_);  // mapped, but never handed to a Buffer
  }

 protected:
  void Run() override {
    Fd fd(Retry([&] { return open(path_.c_str(), O_RDONLY | O_CLOEXEC); }));
    if (fd.get() < 0) FailIo("open", path_);
    struct stat st;
    if (fstat(fd.get(), &st) < 0) FailIo("fstat", path_);
    if (static_cast<uint64_t>(st.st_size) < offset_ + length_) {
      const char* base = std::strrchr(path_.c_str(), '/');
      throw IoFailure{0, std::string("staged payload ") + (base ? base + 1 : path_.c_str()) + " is shorter than expected", path_};
    }
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t from = offset_ - offset_ % page;
    delta_ = static_cast<size_t>(offset_ - from);
    mapped_ = length_ + delta_;
    void* p = mmap(nullptr, mapped_, PROT_READ, MAP_SHARED | MAP_POPULATE, fd.get(), static_cast<off_t>(from));
    if (p == MAP_FAILED) FailIo("mmap", path_);
    base_ = p;
  }

  Napi::Value Result(Napi::Env env) override {
    auto* m = new Mapping{base_, mapped_};
    uint8_t* data = static_cast<uint8_t*>(base_) + delta_;
    base_ = nullptr;  // the Buffer owns it now
    Mappings()[data] = m;
    return Napi::Buffer<uint8_t>::New(
        env, data, length_,
        [](Napi::Env, uint8_t* d, Mapping* mapping) {
          Mappings().erase(d);
          munmap(mapping->base, mapping->length);
          delete mapping;
        },
        m);
  }

 private:
  std::string path_;
  uint64_t offset_;
  size_t length_;
  void* base_ = nullptr;
  size_t mapped_ = 0;
  size_t delta_ = 0;
};

Napi::Value MapRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ToString(env, info[0], "path");
  auto whole = [&](const Napi::Value& v, const char* what) {
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d)))
      ThrowArgument(env, std::string(what) + " must be a non-negative integer");
    return static_cast<uint64_t>(d);
  };
  uint64_t offset = whole(info[1], "offset");
  uint64_t length = whole(info[2], "length");
  if (length == 0) ThrowArgument(env, "length must be at least 1 (an empty range needs no mapping)");
  auto* call = new MapRangeCall(env, std::move(path), offset, static_cast<size_t>(length));
  return call->Start();
}

Napi::Value ReleaseMapping(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) ThrowArgument(env, "releaseMapping expects a Buffer from mapRange");
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  auto found = Mappings().find(b.Data());
  if (found == Mappings().end()) ThrowArgument(env, "releaseMapping expects a Buffer from mapRange");
  Mapping* m = found->second;
  if (!m->released) {
    // Same addresses, now private zero pages: the file's pages are let go.
    void* p = mmap(m->base, m->length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) {
      // Still mapped to the file: the finalizer unmaps it later.
      Napi::Error::New(env, std::string("releasing a staged mapping: ") + std::strerror(errno)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    m->released = true;
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------
// unlinkFiles(paths): removes each file; one already gone is not an error. Every path is
// tried; the first failure is reported.
class UnlinkFilesCall : public IoCall {
 public:
  UnlinkFilesCall(Napi::Env env, std::vector<std::string> paths) : IoCall(env, "ph5.unlinkFiles"), paths_(std::move(paths)) {}

 protected:
  void Run() override {
    IoFailure first{0, "", ""};
    bool failed = false;
    for (const auto& p : paths_) {
      if (unlink(p.c_str()) == 0 || errno == ENOENT || failed) continue;
      first = IoFailure{errno, "unlink", p};
      failed = true;
    }
    if (failed) throw first;
  }

 private:
  std::vector<std::string> paths_;
};

Napi::Value UnlinkFiles(const Napi::CallbackInfo& info) {
  auto* call = new UnlinkFilesCall(info.Env(), ToPaths(info.Env(), info[0]));
  return call->Start();
}

// ---------------------------------------------------------------------------------------
// fileSizes(paths): the size of each regular file, -1 for one that is missing or is not a
// regular file (checked before an epoch: a lost payload fails its job, not the epoch).
class FileSizesCall : public IoCall {
 public:
  FileSizesCall(Napi::Env env, std::vector<std::string> paths) : IoCall(env, "ph5.fileSizes"), paths_(std::move(paths)) {}

 protected:
  void Run() override {
    sizes_.reserve(paths_.size());
    for (const auto& p : paths_) {
      struct stat st;
      sizes_.push_back(stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<double>(st.st_size) : -1);
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, sizes_.size());
    for (uint32_t i = 0; i < sizes_.size(); i++) out.Set(i, Napi::Number::New(env, sizes_[i]));
    return out;
  }

 private:
  std::vector<std::string> paths_;
  std::vector<double> sizes_;
};

Napi::Value FileSizes(const Napi::CallbackInfo& info) {
  auto* call = new FileSizesCall(info.Env(), ToPaths(info.Env(), info[0]));
  return call->Start();
}

}  // namespace

void InitStagingIo(Napi::Env env, Napi::Object exports) {
  exports.Set("stageFile", Export(env, "stageFile", StageFile));
  exports.Set("readRanges", Export(env, "readRanges", ReadRanges));
  exports.Set("mapRange", Export(env, "mapRange", MapRange));
  exports.Set("releaseMapping", Export(env, "releaseMapping", ReleaseMapping));
  exports.Set("unlinkFiles", Export(env, "unlinkFiles", UnlinkFiles));
  exports.Set("fileSizes", Export(env, "fileSizes", FileSizes));
}

}  // namespace ph5
