// The machinery every call shares: the global lock, call ordering, the asynchronous call
// base class, HDF5 id ownership and JS argument readers.
#include <condition_variable>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "common.h"

namespace ph5 {

std::mutex& ApiLock() {
  static std::mutex lock;
  return lock;
}

// ---------------------------------------------------------------------------------------
// Turn: tickets handed out on the JS thread, served in order on the pool threads.
namespace {
struct TurnState {
  std::mutex m;
  std::condition_variable cv;
  uint64_t serving = 0;  // guarded by m
  uint64_t next = 0;     // JS thread only
};
TurnState& Turns() {
  static TurnState s;
  return s;
}
int inFlight = 0;  // JS thread only
}  // namespace

uint64_t Turn::Take() { return Turns().next++; }

Turn::Turn(uint64_t ticket) : ticket_(ticket) {
  TurnState& s = Turns();
  std::unique_lock<std::mutex> guard(s.m);
  s.cv.wait(guard, [&] { return s.serving == ticket_; });
}

void Turn::End() {
  if (ended_) return;
  ended_ = true;
  TurnState& s = Turns();
  {
    std::lock_guard<std::mutex> guard(s.m);
    s.serving = ticket_ + 1;
  }
  s.cv.notify_all();
}

// ---------------------------------------------------------------------------------------
// Pool threads run at a lower CPU priority than the JS thread.
//
// A long H5Dwrite keeps its libuv pool thread busy on the CPU (copying into the page cache,
// MPI-IO), and on a loaded machine with few cores that thread competes with its own
// process's JS thread: measured on a shared 2-core VM, rank 0's timers fired 60-170 ms late
// during a 1 GiB write (BullMQ's lock renewals are such timers). The JS thread only needs
// a little CPU, often; the pool thread needs a lot, and a few ms of delay cost it nothing.
// So the first time a pool thread runs a ph5 call it lowers its own nice value (Linux
// priorities are per thread) to PH5_POOL_NICE (default 10, 0 = leave it alone).
//
// It is not restored afterwards: raising a thread's priority again needs CAP_SYS_NICE or a
// generous RLIMIT_NICE, which an unprivileged rank on a cluster does not have, so a
// restore would work as root and silently fail elsewhere. The thread stays at +10 for the
// other libuv work it may do later (fs, zlib, dns): in the worker ranks that is little, and
// in every ph5 process the JS thread is the one that must stay responsive.
namespace {
int ReadPoolNice() {
  const char* v = std::getenv("PH5_POOL_NICE");
  if (v == nullptr || *v == '\0') return 10;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n <= 0) return 0;
  return n > 19 ? 19 : static_cast<int>(n);
}

// JS thread (the variable is read once, before any pool thread can race a setenv).
int PoolNice() {
  static const int nice = ReadPoolNice();
  return nice;
}

void LowerPoolThreadPriority(int nice) {
#ifdef __linux__
  thread_local bool lowered = false;
  if (lowered || nice <= 0) return;
  lowered = true;
  const id_t tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  int current = getpriority(PRIO_PROCESS, tid);
  if (errno == 0 && current >= nice) return;  // already this low (never raise it)
  setpriority(PRIO_PROCESS, tid, nice);       // best effort: a failure changes nothing else
#else
  (void)nice;
#endif
}
}  // namespace

// ---------------------------------------------------------------------------------------
AsyncCall::AsyncCall(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name) {}

Napi::Promise AsyncCall::Start() {
  // The Promise is made here, once the subclass constructor has accepted its arguments,
  // and before the ticket: Deferred::New may throw, and nothing may throw between taking
  // the ticket and queueing (a ticket that is never served would stop every later call).
  deferred_.emplace(Napi::Promise::Deferred::New(Env()));
  poolNice_ = PoolNice();
  ticket_ = Turn::Take();
  inFlight++;
  Queue();
  return deferred_->Promise();
}

int AsyncCall::InFlight() { return inFlight; }

void AsyncCall::EndTurn() {
  if (turn_) turn_->End();
}

void AsyncCall::Execute() {
  LowerPoolThreadPriority(poolNice_);
  Turn turn(ticket_);
  turn_ = &turn;
  try {
    Run();
  } catch (const Failure& f) {
    failure_ = f;
  } catch (const std::exception& e) {
    failure_ = Failure{code::kHdf5, std::string("internal error: ") + e.what(), ""};
  } catch (...) {
    failure_ = Failure{code::kHdf5, "internal error", ""};
  }
  if (!failure_.code.empty()) SetError(failure_.message);
  turn_ = nullptr;
}

void AsyncCall::OnOK() {
  inFlight--;
  Napi::Env env = Env();
  try {
    deferred_->Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_->Reject(e.Value());
  } catch (const Failure& f) {
    deferred_->Reject(MakeError(env, f).Value());
  } catch (const std::exception& e) {
    deferred_->Reject(MakeError(env, Failure{code::kHdf5, std::string("internal error: ") + e.what(), ""}).Value());
  }
}

void AsyncCall::OnError(const Napi::Error&) {
  inFlight--;
  deferred_->Reject(MakeError(Env(), failure_).Value());
}

// ---------------------------------------------------------------------------------------
void Hid::Close() {
  if (id_ < 0) return;
  // Each HDF5 object kind has its own close call.
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = -1;
}

// ---------------------------------------------------------------------------------------
std::vector<hsize_t> ToDims(Napi::Env env, const Napi::Value& v, const std::string& what, bool allowUnlimited) {
  if (!v.IsArray()) ThrowArgument(env, what + " must be an array of non-negative integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > H5S_MAX_RANK) ThrowArgument(env, what + " has more than " + std::to_string(H5S_MAX_RANK) + " dimensions");
  std::vector<hsize_t> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) ThrowArgument(env, what + "[" + std::to_string(i) + "] must be a number");
    double d = x.As<Napi::Number>().DoubleValue();
    if (allowUnlimited && d == -1) {
      out.push_back(H5S_UNLIMITED);
      continue;
    }
    if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d)
      ThrowArgument(env,
                    what + "[" + std::to_string(i) + "] must be a non-negative integer" + (allowUnlimited ? " or -1 (unlimited)" : ""));
    out.push_back(static_cast<hsize_t>(d));
  }
  return out;
}

std::string ToString(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) ThrowArgument(env, what + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) ThrowArgument(env, what + " must not contain NUL characters");
  return s;
}

bool ToBool(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsBoolean()) ThrowArgument(env, what + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

}  // namespace ph5
