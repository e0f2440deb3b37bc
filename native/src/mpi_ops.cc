// MPI for JavaScript: init/finalize, and collectives that wait without spinning.
//
// Ranks spend most of their life waiting for rank 0's next plan. A blocking MPI_Bcast
// busy-polls inside the MPI library (8 idle oversubscribed ranks burned ~1.5 of 2 cores
// here), so every collective is started non-blocking and completed by MPI_Test with a
// sleep that backs off from 50 us to 200 us for the first 20 ms, then to 2 ms, taking the
// global lock only around each test; after a second of waiting (an idle pool) the sleep
// grows to 10 ms. An idle rank then costs ~100 wake-ups a second, and sees a plan within
// ~10 ms of its arrival (2 ms while the pool is busy, when plans follow each other
// closely). (Idle ranks other than 0 mostly wait on the doorbell, in the OS, instead.)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "common.h"
#include "h5_common.h"

namespace ph5 {

void CloseAllFiles();  // h5_ops.cc

namespace {

constexpr auto kFirstSleep = std::chrono::microseconds(50);
// Waits inside an epoch (the agreement after each step, the report) mostly end within a
// few milliseconds: for their first kBriskFor the sleep stays short, because each step
// waits for the last rank to notice the previous one (with a 2 ms sleep, a 1 KiB write's
// epoch took 16 ms instead of 11 on 4 ranks). Longer waits back off to kMaxSleep.
constexpr auto kBriskSleep = std::chrono::microseconds(200);
constexpr auto kBriskFor = std::chrono::milliseconds(20);
constexpr auto kMaxSleep = std::chrono::microseconds(2000);
constexpr auto kIdleAfter = std::chrono::seconds(1);
constexpr auto kIdleSleep = std::chrono::microseconds(10000);
// MPI counts are ints: large buffers move in pieces.
constexpr size_t kPiece = size_t(1) << 30;

std::atomic<bool> g_initialized{false};
std::atomic<bool> g_finalized{false};

void CheckMpi(int err, const char* what) {
  if (err != MPI_SUCCESS) FailMpi(err, what);
}

// Caller holds ApiLock.
void RequireMpi() {
  if (g_finalized) Fail(code::kMpi, "MPI has been finalised in this process");
  if (!g_initialized) Fail(code::kMpi, "MPI is not initialised in this process (call mpi.init() first)");
}

// Polls requests until all are complete: the lock is held only around MPI_Testall, and
// the thread sleeps between tests, backing off.
void Wait(std::vector<MPI_Request>& reqs, const char* what) {
  auto sleep = kFirstSleep;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    int done = 0;
    {
      std::lock_guard<std::mutex> guard(ApiLock());
      RequireMpi();
      CheckMpi(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE), what);
    }
    if (done) return;
    std::this_thread::sleep_for(sleep);
    const auto waited = std::chrono::steady_clock::now() - start;
    const auto cap = waited < kBriskFor ? std::chrono::microseconds(kBriskSleep) : std::chrono::microseconds(kMaxSleep);
    sleep = waited > kIdleAfter ? kIdleSleep : std::min(std::chrono::microseconds(sleep * 2), cap);
  }
}

void Wait(MPI_Request& req, const char* what) {
  std::vector<MPI_Request> reqs{req};
  Wait(reqs, what);
  req = MPI_REQUEST_NULL;
}

// Rank and size, checking `root`. Caller holds ApiLock.
void World(int root, int* rank, int* size) {
  RequireMpi();
  CheckMpi(MPI_Comm_rank(MPI_COMM_WORLD, rank), "MPI_Comm_rank");
  CheckMpi(MPI_Comm_size(MPI_COMM_WORLD, size), "MPI_Comm_size");
  if (root < 0 || root >= *size)
    Fail(code::kArgument, "root " + std::to_string(root) + " is not a rank of MPI_COMM_WORLD (size " + std::to_string(*size) + ")");
}

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using Bytes = std::unique_ptr<uint8_t, FreeDeleter>;

Bytes Allocate(size_t n) {
  Bytes b(static_cast<uint8_t*>(std::malloc(n > 0 ? n : 1)));
  if (!b) Fail(code::kArgument, "cannot allocate " + std::to_string(n) + " bytes");
  return b;
}

// A Buffer that takes ownership of malloc'd memory: no copy.
Napi::Value HandOver(Napi::Env env, Bytes& bytes, size_t length) {
  uint8_t* p = bytes.release();
  return Napi::Buffer<uint8_t>::New(env, p, length, [](Napi::Env, uint8_t* q) { std::free(q); });
}

// ---------------------------------------------------------------------------------------
// Broadcast: the length (8 bytes), then the bytes. The turn is held until the bytes'
// broadcast is posted, so that later collectives are posted after it on every rank.
class BcastCall : public AsyncCall {
 public:
  BcastCall(Napi::Env env, const Napi::Value& data, int root) : AsyncCall(env, "ph5.mpiBcast"), root_(root) {
    if (data.IsBuffer()) {
      auto b = data.As<Napi::Buffer<uint8_t>>();
      keep_ = Napi::Persistent(b.As<Napi::Object>());  // the root sends straight from it
      rootData_ = b.Data();
      rootLength_ = b.Length();
      hasData_ = true;
    } else if (!data.IsNull() && !data.IsUndefined()) {
      ThrowArgument(env, "bcast data must be a Buffer or null");
    }
  }

 protected:
  void Run() override {
    MPI_Request req = MPI_REQUEST_NULL;
    uint64_t length = 0;
    {
      auto lock = Lock();
      int rank, size;
      World(root_, &rank, &size);
      isRoot_ = rank == root_;
      if (isRoot_ && !hasData_) Fail(code::kArgument, "the root of a broadcast must pass a Buffer");
      length = isRoot_ ? rootLength_ : 0;
      CheckMpi(MPI_Ibcast(&length, 1, MPI_UINT64_T, root_, MPI_COMM_WORLD, &req), "MPI_Ibcast (length)");
    }
    Wait(req, "MPI_Ibcast (length)");
    length_ = static_cast<size_t>(length);
    uint8_t* target = rootData_;
    if (!isRoot_) {
      bytes_ = Allocate(length_);
      target = bytes_.get();
    }
    std::vector<MPI_Request> reqs;
    {
      auto lock = Lock();
      RequireMpi();
      for (size_t off = 0; off < length_; off += kPiece) {
        int n = static_cast<int>(std::min(kPiece, length_ - off));
        reqs.push_back(MPI_REQUEST_NULL);
        CheckMpi(MPI_Ibcast(target + off, n, MPI_BYTE, root_, MPI_COMM_WORLD, &reqs.back()), "MPI_Ibcast");
      }
    }
    EndTurn();
    if (!reqs.empty()) Wait(reqs, "MPI_Ibcast");
  }

  Napi::Value Result(Napi::Env env) override {
    if (isRoot_) return keep_.Value();
    return HandOver(env, bytes_, length_);
  }

 private:
  int root_;
  Napi::ObjectReference keep_;
  uint8_t* rootData_ = nullptr;
  size_t rootLength_ = 0;
  bool hasData_ = false;
  bool isRoot_ = false;
  Bytes bytes_;
  size_t length_ = 0;
};

class BarrierCall : public AsyncCall {
 public:
  explicit BarrierCall(Napi::Env env) : AsyncCall(env, "ph5.mpiBarrier") {}

 protected:
  void Run() override {
    MPI_Request req = MPI_REQUEST_NULL;
    {
      auto lock = Lock();
      RequireMpi();
      CheckMpi(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier");
    }
    EndTurn();
    Wait(req, "MPI_Ibarrier");
  }
};

class AllreduceMinCall : public AsyncCall {
 public:
  AllreduceMinCall(Napi::Env env, int64_t value) : AsyncCall(env, "ph5.mpiAllreduceMin"), in_(value) {}

 protected:
  void Run() override {
    MPI_Request req = MPI_REQUEST_NULL;
    {
      auto lock = Lock();
      RequireMpi();
      CheckMpi(MPI_Iallreduce(&in_, &out_, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD, &req), "MPI_Iallreduce");
    }
    EndTurn();
    Wait(req, "MPI_Iallreduce");
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(out_)); }

 private:
  int64_t in_;
  int64_t out_ = 0;
};

// Variable-length gather: every rank learns every length (so all agree on size limits
// and fail together), then the root receives the bytes with MPI_Igatherv.
class GatherCall : public AsyncCall {
 public:
  GatherCall(Napi::Env env, Napi::Buffer<uint8_t> data, int root) : AsyncCall(env, "ph5.mpiGather"), root_(root) {
    keep_ = Napi::Persistent(data.As<Napi::Object>());
    mine_ = data.Data();
    mineLength_ = data.Length();
  }

 protected:
  void Run() override {
    if (mineLength_ > static_cast<size_t>(INT32_MAX)) Fail(code::kArgument, "a gathered buffer must be smaller than 2 GiB");
    int myLength = static_cast<int>(mineLength_);
    MPI_Request req = MPI_REQUEST_NULL;
    {
      auto lock = Lock();
      int rank, size;
      World(root_, &rank, &size);
      isRoot_ = rank == root_;
      lengths_.assign(size, 0);
      CheckMpi(MPI_Iallgather(&myLength, 1, MPI_INT, lengths_.data(), 1, MPI_INT, MPI_COMM_WORLD, &req), "MPI_Iallgather (lengths)");
    }
    Wait(req, "MPI_Iallgather (lengths)");
    std::vector<int> displs(lengths_.size(), 0);
    size_t total = 0;
    for (size_t i = 0; i < lengths_.size(); i++) {
      displs[i] = static_cast<int>(std::min<size_t>(total, INT32_MAX));
      total += static_cast<size_t>(lengths_[i]);
    }
    if (total > static_cast<size_t>(INT32_MAX)) Fail(code::kArgument, "gathered data must be smaller than 2 GiB in total");
    if (isRoot_) all_ = Allocate(total);
    {
      auto lock = Lock();
      RequireMpi();
      CheckMpi(MPI_Igatherv(mine_, myLength, MPI_BYTE, isRoot_ ? all_.get() : nullptr, lengths_.data(), displs.data(), MPI_BYTE, root_,
                            MPI_COMM_WORLD, &req),
               "MPI_Igatherv");
    }
    EndTurn();
    Wait(req, "MPI_Igatherv");
  }

  Napi::Value Result(Napi::Env env) override {
    if (!isRoot_) return env.Null();
    Napi::Array out = Napi::Array::New(env, lengths_.size());
    size_t off = 0;
    for (size_t i = 0; i < lengths_.size(); i++) {
      out.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, all_.get() + off, lengths_[i]));
      off += lengths_[i];
    }
    return out;
  }

 private:
  int root_;
  Napi::ObjectReference keep_;
  const uint8_t* mine_ = nullptr;
  size_t mineLength_ = 0;
  bool isRoot_ = false;
  std::vector<int> lengths_;
  Bytes all_;
};

// ---------------------------------------------------------------------------------------
int RootArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return 0;
  if (!info[i].IsNumber()) ThrowArgument(info.Env(), "root must be a rank number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= INT32_MAX) || d != static_cast<double>(static_cast<int>(d)))
    ThrowArgument(info.Env(), "root must be a non-negative integer");
  return static_cast<int>(d);
}

// The MPI this addon was compiled against, as the runtime library names itself.
std::string BuildMpi() {
#if defined(OMPI_MAJOR_VERSION)
  return "Open MPI v" + std::to_string(OMPI_MAJOR_VERSION) + "." + std::to_string(OMPI_MINOR_VERSION) + "." +
         std::to_string(OMPI_RELEASE_VERSION);
#elif defined(MPICH_VERSION)
  return std::string("MPICH Version: ") + MPICH_VERSION;
#else
  return "MPI " + std::to_string(MPI_VERSION) + "." + std::to_string(MPI_SUBVERSION);
#endif
}

std::string RuntimeMpi() {
  char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
  int len = 0;
  if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) return "";
  std::string s(lib, std::max(0, len));
  size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// Empty when the MPI library loaded at run time looks ABI-compatible with the headers the
// addon was compiled against (same implementation, same major version), else why not.
std::string MpiMismatch() {
  std::string runtime = RuntimeMpi();
#if defined(OMPI_MAJOR_VERSION)
  std::string want = "Open MPI v" + std::to_string(OMPI_MAJOR_VERSION) + ".";
  if (runtime.rfind(want, 0) == 0) return "";
#elif defined(MPICH_VERSION)
  // MPICH-ABI libraries (MPICH, Cray MPICH, Intel MPI, MVAPICH) all name themselves.
  if (runtime.find("MPICH") != std::string::npos || runtime.find("Intel") != std::string::npos ||
      runtime.find("MVAPICH") != std::string::npos)
    return "";
#else
  return "";
#endif
  return "the ph5 addon was built against " + BuildMpi() + " but the MPI library loaded at run time is \"" + runtime +
         "\": rebuild it (npm run build:native) with the MPI you run, or fix LD_LIBRARY_PATH";
}

// Runs inside MPI_Finalize (MPI_COMM_SELF's attributes are deleted first): HDF5 must shut
// down while MPI still works. The thread calling MPI_Finalize holds ApiLock.
int CloseHdf5AtFinalize(MPI_Comm, int, void*, void*) {
  H5close();
  ForgetAdoptedIds();
  return MPI_SUCCESS;
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> guard(ApiLock());
  if (g_finalized) throw MakeError(env, Failure{code::kMpi, "MPI was already finalised in this process", ""});
  int provided = 0;
  if (!g_initialized) {
    std::string mismatch = MpiMismatch();
    if (!mismatch.empty()) throw MakeError(env, Failure{code::kMpi, mismatch, ""});
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
      int err = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
      if (err != MPI_SUCCESS) throw MakeError(env, Failure{code::kMpi, "MPI_Init_thread failed (error " + std::to_string(err) + ")", ""});
    }
    // MPI errors come back as codes (and become PH5_ERR_MPI) instead of aborting the job.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int key = MPI_KEYVAL_INVALID;
    if (MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, CloseHdf5AtFinalize, &key, nullptr) == MPI_SUCCESS)
      MPI_Comm_set_attr(MPI_COMM_SELF, key, nullptr);
    if (key != MPI_KEYVAL_INVALID) MPI_Comm_free_keyval(&key);  // the attribute keeps the callback alive; freeing the key avoids a leak
    g_initialized = true;
  }
  MPI_Query_thread(&provided);
  if (provided < MPI_THREAD_SERIALIZED) {
    throw MakeError(env, Failure{code::kMpi,
                                 "MPI granted thread level " + std::to_string(provided) +
                                     "; ph5 calls MPI from libuv worker threads and needs MPI_THREAD_SERIALIZED (" +
                                     std::to_string(MPI_THREAD_SERIALIZED) + ") or more",
                                 ""});
  }
  int rank = 0, size = 0, len = 0;
  char name[MPI_MAX_PROCESSOR_NAME] = "";
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Get_processor_name(name, &len);
  Napi::Object out = Napi::Object::New(env);
  out.Set("rank", rank);
  out.Set("size", size);
  out.Set("threadLevel", provided);
  out.Set("processorName", std::string(name, std::max(0, len)));
  return out;
}

Napi::Value Initialized(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), g_initialized && !g_finalized); }

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_initialized || g_finalized) return env.Undefined();
  if (AsyncCall::InFlight() > 0)
    throw MakeError(env,
                    Failure{code::kMpi,
                            std::to_string(AsyncCall::InFlight()) +
                                " ph5 call(s) still pending: await every call (and every collective on every rank) before mpi.finalize()",
                            ""});
  std::lock_guard<std::mutex> guard(ApiLock());
  // Open files are closed first (collectively, in handle order: the same on every rank).
  CloseAllFiles();
  MPI_Finalize();  // runs CloseHdf5AtFinalize
  g_finalized = true;
  return env.Undefined();
}

Napi::Value Abort(const Napi::CallbackInfo& info) {
  int code = 1;
  if (info.Length() > 0 && info[0].IsNumber()) code = info[0].As<Napi::Number>().Int32Value();
  // No lock: an abort must work even while another thread is stuck inside MPI or HDF5.
  if (g_initialized && !g_finalized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

Napi::Value Bcast(const Napi::CallbackInfo& info) { return (new BcastCall(info.Env(), info[0], RootArg(info, 1)))->Start(); }

Napi::Value Barrier(const Napi::CallbackInfo& info) { return (new BarrierCall(info.Env()))->Start(); }

Napi::Value AllreduceMin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowArgument(env, "allreduceMin expects an integer");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (std::isnan(d) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 9007199254740991.0 || d < -9007199254740991.0)
    ThrowArgument(env, "allreduceMin expects a safe integer");
  return (new AllreduceMinCall(env, static_cast<int64_t>(d)))->Start();
}

Napi::Value Gather(const Napi::CallbackInfo& info) {
  if (!info[0].IsBuffer()) ThrowArgument(info.Env(), "gather expects a Buffer");
  return (new GatherCall(info.Env(), info[0].As<Napi::Buffer<uint8_t>>(), RootArg(info, 1)))->Start();
}

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned maj = 0, min = 0, rel = 0;
  {
    std::lock_guard<std::mutex> guard(ApiLock());
    H5get_libversion(&maj, &min, &rel);
  }
  // MPI_Get_version and MPI_Get_library_version may be called at any time.
  int version = 0, subversion = 0;
  MPI_Get_version(&version, &subversion);
  Napi::Object out = Napi::Object::New(env);
  out.Set("hdf5", std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel));
  out.Set("mpi", std::to_string(version) + "." + std::to_string(subversion));
  out.Set("mpiLibrary", RuntimeMpi());
  out.Set("hdf5Build", std::to_string(H5_VERS_MAJOR) + "." + std::to_string(H5_VERS_MINOR) + "." + std::to_string(H5_VERS_RELEASE));
  out.Set("mpiBuild", BuildMpi());
  std::string mismatch = MpiMismatch();
  out.Set("mpiMismatch", mismatch.empty() ? env.Null() : Napi::Value(Napi::String::New(env, mismatch)));
  return out;
}

}  // namespace

bool MpiActive() { return g_initialized && !g_finalized; }

void InitMpi(Napi::Env env, Napi::Object exports) {
  exports.Set("mpiInit", Export(env, "mpiInit", Init));
  exports.Set("mpiInitialized", Export(env, "mpiInitialized", Initialized));
  exports.Set("mpiFinalize", Export(env, "mpiFinalize", Finalize));
  exports.Set("mpiAbort", Export(env, "mpiAbort", Abort));
  exports.Set("mpiBcast", Export(env, "mpiBcast", Bcast));
  exports.Set("mpiBarrier", Export(env, "mpiBarrier", Barrier));
  exports.Set("mpiAllreduceMin", Export(env, "mpiAllreduceMin", AllreduceMin));
  exports.Set("mpiGather", Export(env, "mpiGather", Gather));
  exports.Set("versions", Export(env, "versions", Versions));
}

}  // namespace ph5
