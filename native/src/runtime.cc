// The machinery every call shares: the global lock, call ordering, the asynchronous call
// base class, HDF5 id ownership and JS argument readers.
#include <condition_variable>
#include <cmath>

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
AsyncCall::AsyncCall(Napi::Env env, const char* name)
    : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

Napi::Promise AsyncCall::Start() {
  // Nothing may throw between taking the ticket and queueing: a ticket that is never
  // served would stop every later call.
  ticket_ = Turn::Take();
  inFlight++;
  Queue();
  return deferred_.Promise();
}

int AsyncCall::InFlight() { return inFlight; }

void AsyncCall::EndTurn() {
  if (turn_) turn_->End();
}

void AsyncCall::Execute() {
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
    deferred_.Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (const Failure& f) {
    deferred_.Reject(MakeError(env, f).Value());
  } catch (const std::exception& e) {
    deferred_.Reject(MakeError(env, Failure{code::kHdf5, std::string("internal error: ") + e.what(), ""}).Value());
  }
}

void AsyncCall::OnError(const Napi::Error&) {
  inFlight--;
  deferred_.Reject(MakeError(Env(), failure_).Value());
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
      ThrowArgument(env, what + "[" + std::to_string(i) + "] must be a non-negative integer" +
                             (allowUnlimited ? " or -1 (unlimited)" : ""));
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
