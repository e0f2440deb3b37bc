// MPI for JavaScript: init/finalize, and collectives that wait without spinning.
//
// Ranks spend most of their life waiting for rank 0's next plan. A blocking MPI_Bcast
// busy-polls inside OpenMPI (8 idle oversubscribed ranks burned ~1.5 of 2 cores here), so
// every collective is started non-blocking and completed by MPI_Test with a sleep that
// backs off from 20 us to 10 ms: idle ranks cost almost nothing, and a plan arriving
// after a long idle period is seen within ~10 ms.
#include <chrono>
#include <cstring>
#include <thread>

#include "common.h"

namespace ph5 {
namespace {

constexpr auto kFirstSleep = std::chrono::microseconds(20);
constexpr auto kMaxSleep = std::chrono::microseconds(10000);
// MPI counts are ints: move large buffers in pieces.
constexpr size_t kPiece = size_t(1) << 30;

void CheckMpi(int err, const char* what) {
  if (err != MPI_SUCCESS) FailMpi(err, what);
}

void RequireInit() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin) Fail("PH5_ERR_MPI", "MPI is not initialised in this process (call mpi.init() first)");
}

// Starts a non-blocking operation under the lock, then waits for it with short,
// growing sleeps, taking the lock only around each MPI_Test.
template <typename Start>
void RunNonBlocking(Start start, const char* what) {
  MPI_Request req = MPI_REQUEST_NULL;
  {
    std::lock_guard<std::mutex> guard(ApiLock());
    RequireInit();
    CheckMpi(start(&req), what);
  }
  auto sleep = kFirstSleep;
  for (;;) {
    int done = 0;
    {
      std::lock_guard<std::mutex> guard(ApiLock());
      CheckMpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
    }
    if (done) return;
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, kMaxSleep);
  }
}

int Rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

class BcastCall : public AsyncCall {
 public:
  BcastCall(Napi::Env env, Napi::Value data, int root) : AsyncCall(env, "ph5.mpiBcast"), root_(root) {
    if (data.IsBuffer()) {
      auto b = data.As<Napi::Buffer<uint8_t>>();
      bytes_.assign(b.Data(), b.Data() + b.Length());
      hasData_ = true;
    }
  }

 protected:
  void Run() override {
    bool isRoot;
    {
      std::lock_guard<std::mutex> guard(ApiLock());
      RequireInit();
      isRoot = Rank() == root_;
    }
    if (isRoot && !hasData_) Fail("PH5_ERR_ARGUMENT", "the root of a broadcast must pass a Buffer");
    uint64_t length = isRoot ? bytes_.size() : 0;
    RunNonBlocking([&](MPI_Request* r) { return MPI_Ibcast(&length, 1, MPI_UINT64_T, root_, MPI_COMM_WORLD, r); }, "MPI_Ibcast (length)");
    if (!isRoot) bytes_.resize(length);
    for (size_t off = 0; off < length; off += kPiece) {
      int n = static_cast<int>(std::min(kPiece, static_cast<size_t>(length - off)));
      RunNonBlocking([&](MPI_Request* r) { return MPI_Ibcast(bytes_.data() + off, n, MPI_BYTE, root_, MPI_COMM_WORLD, r); }, "MPI_Ibcast");
    }
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Buffer<uint8_t>::Copy(env, bytes_.data(), bytes_.size()); }

 private:
  int root_;
  bool hasData_ = false;
  std::vector<uint8_t> bytes_;
};

class BarrierCall : public AsyncCall {
 public:
  explicit BarrierCall(Napi::Env env) : AsyncCall(env, "ph5.mpiBarrier") {}

 protected:
  void Run() override {
    RunNonBlocking([](MPI_Request* r) { return MPI_Ibarrier(MPI_COMM_WORLD, r); }, "MPI_Ibarrier");
  }
};

class AllreduceMinCall : public AsyncCall {
 public:
  AllreduceMinCall(Napi::Env env, int64_t value) : AsyncCall(env, "ph5.mpiAllreduceMin"), in_(value) {}

 protected:
  void Run() override {
    RunNonBlocking([&](MPI_Request* r) { return MPI_Iallreduce(&in_, &out_, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD, r); },
                   "MPI_Iallreduce");
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(out_)); }

 private:
  int64_t in_;
  int64_t out_ = 0;
};

class GatherCall : public AsyncCall {
 public:
  GatherCall(Napi::Env env, Napi::Buffer<uint8_t> data, int root)
      : AsyncCall(env, "ph5.mpiGather"), root_(root), mine_(data.Data(), data.Data() + data.Length()) {}

 protected:
  void Run() override {
    int size = 0;
    {
      std::lock_guard<std::mutex> guard(ApiLock());
      RequireInit();
      isRoot_ = Rank() == root_;
      MPI_Comm_size(MPI_COMM_WORLD, &size);
    }
    if (mine_.size() > static_cast<size_t>(INT32_MAX)) Fail("PH5_ERR_ARGUMENT", "a gathered buffer must be smaller than 2 GiB");
    int length = static_cast<int>(mine_.size());
    lengths_.assign(isRoot_ ? size : 0, 0);
    RunNonBlocking([&](MPI_Request* r) { return MPI_Igather(&length, 1, MPI_INT, lengths_.data(), 1, MPI_INT, root_, MPI_COMM_WORLD, r); },
                   "MPI_Igather");
    std::vector<int> displs(lengths_.size(), 0);
    size_t total = 0;
    for (size_t i = 0; i < lengths_.size(); i++) {
      displs[i] = static_cast<int>(total);
      total += lengths_[i];
    }
    if (total > static_cast<size_t>(INT32_MAX)) Fail("PH5_ERR_ARGUMENT", "gathered data must be smaller than 2 GiB in total");
    all_.resize(total);
    RunNonBlocking(
        [&](MPI_Request* r) {
          return MPI_Igatherv(mine_.data(), length, MPI_BYTE, all_.data(), lengths_.data(), displs.data(), MPI_BYTE, root_, MPI_COMM_WORLD, r);
        },
        "MPI_Igatherv");
  }
  Napi::Value Result(Napi::Env env) override {
    if (!isRoot_) return env.Null();
    Napi::Array out = Napi::Array::New(env, lengths_.size());
    size_t off = 0;
    for (size_t i = 0; i < lengths_.size(); i++) {
      out.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, all_.data() + off, lengths_[i]));
      off += lengths_[i];
    }
    return out;
  }

 private:
  int root_;
  bool isRoot_ = false;
  std::vector<uint8_t> mine_;
  std::vector<int> lengths_;
  std::vector<uint8_t> all_;
};

int RootArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return 0;
  if (!info[i].IsNumber()) ThrowArgument(info.Env(), "root must be a rank number");
  return info[i].As<Napi::Number>().Int32Value();
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> guard(ApiLock());
  int init = 0, fin = 0, provided = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (fin) throw MakeError(env, Failure{"PH5_ERR_MPI", "MPI was already finalised in this process", ""});
  if (!init) {
    int err = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (err != MPI_SUCCESS) throw MakeError(env, Failure{"PH5_ERR_MPI", "MPI_Init_thread failed", ""});
    // MPI errors come back as codes (and become PH5_ERR_MPI), not as aborts.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  } else {
    MPI_Query_thread(&provided);
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    throw MakeError(env, Failure{"PH5_ERR_MPI",
                                 "MPI granted thread level " + std::to_string(provided) +
                                     "; ph5 calls MPI from a worker thread and needs at least MPI_THREAD_SERIALIZED",
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
  out.Set("processorName", std::string(name, len));
  return out;
}

Napi::Value Initialized(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> guard(ApiLock());
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return Napi::Boolean::New(info.Env(), init && !fin);
}

void Finalize(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> guard(ApiLock());
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin) return;
  // HDF5 hooks MPI_Finalize (an attribute on MPI_COMM_SELF) to shut itself down first.
  MPI_Finalize();
}

void Abort(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  int init = 0;
  MPI_Initialized(&init);
  if (init) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

Napi::Value Bcast(const Napi::CallbackInfo& info) {
  auto* call = new BcastCall(info.Env(), info[0], RootArg(info, 1));
  call->Queue();
  return call->Promise();
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  auto* call = new BarrierCall(info.Env());
  call->Queue();
  return call->Promise();
}

Napi::Value AllreduceMin(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) ThrowArgument(info.Env(), "allreduceMin expects an integer");
  auto* call = new AllreduceMinCall(info.Env(), info[0].As<Napi::Number>().Int64Value());
  call->Queue();
  return call->Promise();
}

Napi::Value Gather(const Napi::CallbackInfo& info) {
  if (!info[0].IsBuffer()) ThrowArgument(info.Env(), "gather expects a Buffer");
  auto* call = new GatherCall(info.Env(), info[0].As<Napi::Buffer<uint8_t>>(), RootArg(info, 1));
  call->Queue();
  return call->Promise();
}

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  int version = 0, subversion = 0, len = 0;
  MPI_Get_version(&version, &subversion);
  char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
  MPI_Get_library_version(lib, &len);
  std::string library(lib, len);
  size_t nl = library.find_first_of(",\n");
  if (nl != std::string::npos) library.resize(nl);
  Napi::Object out = Napi::Object::New(env);
  out.Set("hdf5", std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel));
  out.Set("mpi", std::to_string(version) + "." + std::to_string(subversion));
  out.Set("mpiLibrary", library);
  return out;
}

}  // namespace

void InitMpi(Napi::Env env, Napi::Object exports) {
  exports.Set("mpiInit", Napi::Function::New(env, Init));
  exports.Set("mpiInitialized", Napi::Function::New(env, Initialized));
  exports.Set("mpiFinalize", Napi::Function::New(env, Finalize));
  exports.Set("mpiAbort", Napi::Function::New(env, Abort));
  exports.Set("mpiBcast", Napi::Function::New(env, Bcast));
  exports.Set("mpiBarrier", Napi::Function::New(env, Barrier));
  exports.Set("mpiAllreduceMin", Napi::Function::New(env, AllreduceMin));
  exports.Set("mpiGather", Napi::Function::New(env, Gather));
  exports.Set("versions", Napi::Function::New(env, Versions));
}

}  // namespace ph5
