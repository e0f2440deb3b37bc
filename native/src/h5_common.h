// What the HDF5 parts of the addon share: the table of open files, the base classes of
// every HDF5 call, path and selection helpers.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "common.h"

namespace ph5 {

struct OpenFile {
  hid_t id;
  bool parallel;
  bool writable;
};

// PH5_ERR_READ_ONLY for a change to a file opened with mode 'r' (HDF5 would report it
// through a stack that mentions "not found").
void RequireWritable(const OpenFile& f, const std::string& what);

// hid_t values do not fit a JS number exactly, so JS holds small integers instead.
// Touched only under ApiLock.
std::map<uint32_t, OpenFile>& Files();
OpenFile LookUp(uint32_t handle);
// Reads info[0] as a file handle (JS thread; throws PH5_ERR_ARGUMENT).
uint32_t HandleArg(const Napi::CallbackInfo& info);

// Base of every HDF5 call. Run() takes the global lock, *then* passes the turn on, and
// switches HDF5's error printing off, before the call's own work (RunLocked). Doing this
// in one place means no call can forget EndTurn() (every later call of the process would
// wait for it) or take the lock after passing the turn (two calls could then reach a
// collective HDF5 operation in different orders on two ranks, and deadlock).
class H5Call : public AsyncCall {
 public:
  using AsyncCall::AsyncCall;

 protected:
  virtual void RunLocked() = 0;

 private:
  void Run() final;
};

// An HDF5 call on one open file: the handle is looked up under the lock.
class FileCall : public H5Call {
 public:
  FileCall(Napi::Env env, const char* name, uint32_t handle) : H5Call(env, name), handle_(handle) {}

 protected:
  virtual void RunOnFile(const OpenFile& file) = 0;
  uint32_t handle_;

 private:
  void RunLocked() final { RunOnFile(LookUp(handle_)); }
};

// ---------------------------------------------------------------------------------------
// Paths. Object paths are absolute or relative to the root group; "/" is the root.

// True when every link along `path` exists (H5Lexists fails, rather than answering no,
// when an intermediate group is missing). Soft links that dangle count as existing links.
bool PathExists(hid_t loc, const std::string& path);
// Refuses "", "/" and a trailing '/' for paths that must name a new or existing object
// other than the root (JS thread).
void CheckPath(Napi::Env env, const std::string& path, const char* what = "a dataset path");
// Every existing prefix of `path` must be a group: HDF5 would report a dataset in the
// way as "object not found".
void CheckParents(hid_t loc, const std::string& path);
// Opens the object at `path` ("/" is the root group); PH5_ERR_NOT_FOUND when missing.
Hid OpenObject(hid_t file, const std::string& path);
// Opens a dataset; PH5_ERR_NOT_FOUND when missing, PH5_ERR_TYPE when not a dataset.
Hid OpenDataset(hid_t file, const std::string& path);
// A link creation list that creates missing intermediate groups.
Hid IntermediateGroupsLcpl();

std::vector<hsize_t> Extent(hid_t space);
std::string DimsText(const std::vector<hsize_t>& d);
Napi::Array ToArray(Napi::Env env, const std::vector<hsize_t>& v);

// Short blocking collectives used inside an HDF5 call on a parallel file (all ranks are in
// the same call, in the same order, so they cannot cross another rank's call).
void MpiCheck(int err, const char* what);
// Every rank learns whether some rank failed (and which code, from which rank): one
// MPI_Allreduce with MINLOC. Throws `local` on the failing rank, a "rank N refused"
// failure of the same code on the others. `what` names the operation for the message.
void AgreeOnFailure(const Failure& local, const std::string& what);

// Around an HDF5 call that may convert compounds (H5Dwrite, H5Tconvert; caller holds
// ApiLock, and opens or closes no id of its own in between): the datatype ids HDF5 caches
// for the conversion path are counted as HDF5's own (see openIdCounts), not as leaks.
int64_t DatatypeIds();
void AdoptDatatypeIds(int64_t before);
// After H5close (which frees those paths with everything else).
void ForgetAdoptedIds();

// Before raw data goes into a parallel file: makes the file on disk at least `end` bytes
// long (the end of the storage the write reaches), so that the parts of newly allocated
// storage no write has reached yet are holes that read as zeros. Collective I/O with gaps
// (two-phase writes, data sieving) reads a file domain, fills in the ranks' data and
// writes the whole domain back; past the end of the file that read comes back short, and
// the gaps were written with whatever MPI-IO's buffer held (ROMIO: 0xff bytes every time;
// OMPIO: a stray value now and then), into the unwritten elements of a dataset created in
// the same epoch (test/native/unwritten-gaps). Every rank calls it with the same `end`
// (computed from file metadata and the step's whole selection); a no-op on serial files.
void CoverAllocation(const OpenFile& f, haddr_t end);

void InitLinks(Napi::Env env, Napi::Object exports);
void InitAttributes(Napi::Env env, Napi::Object exports);

}  // namespace ph5
