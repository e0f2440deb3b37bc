// Files: open/create (mpio with MPI-IO hints, or serial), alignment, flush, close (and the
// durable close: the file on stable storage before the close succeeds), what the file was
// opened with, and the count of open HDF5 ids.
//
// On a parallel (mpio) file every call is collective: all ranks make the same calls in
// the same order (metadata reads and writes are collective, see OpenCall).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <utility>

#include "h5_common.h"

// HDF5's internal id counter (H5Iprivate.h, not installed); see CountOfType.
extern "C" int64_t H5I_nmembers(H5I_type_t type) __attribute__((weak));

namespace ph5 {

void InitDatasets(Napi::Env env, Napi::Object exports);  // h5_datasets.cc

namespace {

uint32_t g_nextHandle = 1;

// Where each open file came from, for the durable close: its path (to sync what the close
// itself writes, after the MPI file handle is gone) and whether this open created it (its
// directory entry must be synced too). Keyed like Files(); touched only under ApiLock.
struct Origin {
  std::string path;
  bool created = false;
};
std::map<uint32_t, Origin>& Origins() {
  static std::map<uint32_t, Origin> origins;
  return origins;
}

struct OpenSettings {
  std::vector<std::pair<std::string, std::string>> hints;  // MPI-IO hints (MPI_Info)
  bool align = false;
  hsize_t alignThreshold = 1, alignment = 1;
};

// {hints?: {key: value}, alignment?: {threshold, alignment}} (JS thread).
OpenSettings ToSettings(Napi::Env env, const Napi::Value& v) {
  OpenSettings s;
  if (v.IsUndefined() || v.IsNull()) return s;
  if (!v.IsObject()) ThrowArgument(env, "open settings must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value hints = o.Get("hints");
  if (!hints.IsUndefined() && !hints.IsNull()) {
    if (!hints.IsObject() || hints.IsArray()) ThrowArgument(env, "hints must be an object of string values");
    Napi::Object h = hints.As<Napi::Object>();
    Napi::Array keys = h.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string key = ToString(env, keys.Get(i), "hint name");
      std::string value = ToString(env, h.Get(key), "hints." + key);
      if (key.empty() || key.size() >= MPI_MAX_INFO_KEY) ThrowArgument(env, "hint name '" + key + "' is empty or too long");
      if (value.size() >= MPI_MAX_INFO_VAL) ThrowArgument(env, "hints." + key + " is too long");
      s.hints.emplace_back(key, value);
    }
  }
  Napi::Value align = o.Get("alignment");
  if (!align.IsUndefined() && !align.IsNull()) {
    if (!align.IsObject()) ThrowArgument(env, "alignment must be {threshold, alignment}");
    Napi::Object a = align.As<Napi::Object>();
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, a.Get("threshold"));
    pair.Set(1u, a.Get("alignment"));
    std::vector<hsize_t> both = ToDims(env, pair, "alignment {threshold, alignment}", false);
    if (both[1] < 1) ThrowArgument(env, "alignment.alignment must be at least 1");
    s.align = true;
    s.alignThreshold = both[0];
    s.alignment = both[1];
  }
  return s;
}

// An MPI_Info that frees itself.
class Info {
 public:
  Info() = default;
  Info(const Info&) = delete;
  Info& operator=(const Info&) = delete;
  ~Info() {
    if (info_ != MPI_INFO_NULL) MPI_Info_free(&info_);
  }
  MPI_Info* out() { return &info_; }
  MPI_Info get() const { return info_; }

 private:
  MPI_Info info_ = MPI_INFO_NULL;
};

// File access lists, kept for the life of the process, one per distinct setting.
// H5Pset_fapl_mpio duplicates the communicator (MPI_Comm_dup: a collective call, several
// allreduce rounds in which waiting ranks spin); a pool opens its file every epoch with
// the same settings, so the list is made once. H5Fopen makes its own duplicate from it.
// Touched only under ApiLock; not counted as open ids (openIdCounts subtracts them).
std::map<std::string, hid_t>& AccessLists() {
  static std::map<std::string, hid_t> lists;
  return lists;
}

std::string AccessListKey(bool parallel, const OpenSettings& s) {
  std::string key = parallel ? "mpio" : "sec2";
  for (auto& [k, v] : s.hints) key += "\n" + k + "=" + v;
  if (s.align) key += "\nalign=" + std::to_string(s.alignThreshold) + "/" + std::to_string(s.alignment);
  return key;
}

// Crash safety of an epoch. An epoch is replayed from the start after a crash, so the
// file on disk must stay as it was before the epoch (plus raw data the replay rewrites)
// until the epoch's metadata is written as a whole at close. By default HDF5 writes dirty
// metadata whenever its cache needs room or (in parallel) holds 256 KiB of dirty entries:
// a chunk index that points at chunks the crashed epoch had moved, while the superblock's
// end-of-allocation still predates them, so that the replay allocates over them and reads
// garbage ("inflate() failed") or hangs. Keeping every dirty entry in the cache until the
// close (no evictions, the largest sync threshold) leaves only the close itself exposed.
void KeepMetadataUntilClose(hid_t fapl) {
  // HDF5's upper bounds for the cache size and for the dirty threshold (H5C__MAX_MAX_CACHE_SIZE
  // and a quarter of it, H5AC__MAX_DIRTY_BYTES_THRESHOLD; not in the public headers).
  constexpr size_t kMaxCacheBytes = 128 * 1024 * 1024;
  constexpr int kMaxDirtyBytes = 32 * 1024 * 1024;
  H5AC_cache_config_t mdc;
  std::memset(&mdc, 0, sizeof mdc);
  mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  CheckErr(H5Pget_mdc_config(fapl, &mdc), "reading the metadata cache configuration");
  mdc.evictions_enabled = false;
  mdc.incr_mode = H5C_incr__off;
  mdc.flash_incr_mode = H5C_flash_incr__off;
  mdc.decr_mode = H5C_decr__off;
  mdc.set_initial_size = true;
  mdc.initial_size = 16 * 1024 * 1024;
  mdc.max_size = kMaxCacheBytes;
  mdc.min_size = mdc.initial_size;
  mdc.dirty_bytes_threshold = kMaxDirtyBytes;
  CheckErr(H5Pset_mdc_config(fapl, &mdc), "configuring the metadata cache");
}

// Files ph5 creates never reuse space freed while they are open (HDF5's "NONE" file space
// strategy; the file's default is to reuse it until the close). A rewritten compressed
// chunk that changes size moves, and its old place is freed: with reuse, another chunk of
// the same epoch can land there, and a crash before the close leaves the chunk index on
// disk (written at the close) pointing at the other chunk's bytes - "inflate() failed" on
// read, and a replay that reads the chunk to merge its writes fails on one rank and hangs
// the others. Without reuse, a crashed epoch leaves the old chunks intact under the old
// index and the replay starts from a consistent file. The cost is space freed during an
// epoch, which HDF5 forgets at the close anyway (free space is not persisted by default).
// The setting needs a version 2 superblock (HDF5 1.10 and later read it; h5py does).
// A new list per create: a kept one would count as an open id in the leak checks.
Hid CreationList() {
  Hid list(Check(H5Pcreate(H5P_FILE_CREATE), "creating the file creation list"));
  CheckErr(H5Pset_file_space_strategy(list, H5F_FSPACE_STRATEGY_NONE, false, 1), "choosing the file space strategy");
  return list;
}

hid_t AccessList(bool parallel, const OpenSettings& settings) {
  std::string key = AccessListKey(parallel, settings);
  auto& lists = AccessLists();
  auto found = lists.find(key);
  // H5close (at MPI_Finalize) closes every id: a kept list is checked before reuse.
  if (found != lists.end() && H5Iis_valid(found->second) > 0) return found->second;
  if (found != lists.end()) lists.erase(found);
  Hid fapl(Check(H5Pcreate(H5P_FILE_ACCESS), "creating the file access list"));
  if (parallel) {
    Info info;
    if (!settings.hints.empty()) {
      MpiCheck(MPI_Info_create(info.out()), "MPI_Info_create");
      for (auto& [k, value] : settings.hints) MpiCheck(MPI_Info_set(info.get(), k.c_str(), value.c_str()), "MPI_Info_set");
    }
    // HDF5 keeps its own duplicate of the info; ours is freed on return.
    CheckErr(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, info.get()), "selecting the mpio driver");
    // Metadata is read once and broadcast, and written collectively: every call on a
    // parallel file is collective.
    CheckErr(H5Pset_all_coll_metadata_ops(fapl, true), "enabling collective metadata reads");
    CheckErr(H5Pset_coll_metadata_write(fapl, true), "enabling collective metadata writes");
    KeepMetadataUntilClose(fapl);
  }
  // Objects at least `threshold` bytes start at a multiple of `alignment` (e.g. the
  // file system's stripe size, so that ranks' writes do not share stripes).
  if (settings.align) CheckErr(H5Pset_alignment(fapl, settings.alignThreshold, settings.alignment), "setting the alignment");
  // Every rank makes the same opens in the same order, so the lists (and their
  // communicator duplicates) are made collectively; a bounded table is simply reset.
  if (lists.size() >= 16) {
    for (auto& [k, id] : lists) H5Pclose(id);
    lists.clear();
  }
  hid_t id = fapl.release();
  lists[key] = id;
  return id;
}

// Crash safety of an epoch, continued (see KeepMetadataUntilClose and CreationList):
// space the file's last committed state uses must not be written over before the close.
// The NONE strategy drops freed space, but HDF5 still reuses a freed block that ends at the
// end of allocation (EOA) or touches a block aggregator's free part: H5MF_xfree tries
// H5MF_try_shrink before any strategy applies. So a compressed chunk at the very end of
// the file that an epoch rewrites at another size was freed, the EOA moved back over it,
// and its new version was written where the index on disk still pointed: a crash before
// the close left a chunk that no longer inflated, and every replay failed on it (the
// fault test; test/native/crash-replay reproduces it). A writable open therefore first
// allocates a guard, a one-byte anonymous dataset with early allocation: its object header
// and its byte are the first blocks of the session, right after the committed ones, so
// no committed block ends at the EOA or touches an aggregator's free part, and committed
// space freed during the epoch is dropped, never reused. The guard is closed (and, having
// no name, deleted) just before the file is: a few hundred bytes per epoch.
struct SpaceGuard {
  hid_t dataset;
  // The ids the open guard holds inside HDF5 (its property lists, ...), measured when it
  // is made: part of the open file, not leaks (CountIds subtracts them).
  int64_t dataspaces, propertyLists, datatypes;
};

std::map<hid_t, SpaceGuard>& SpaceGuards() {
  static std::map<hid_t, SpaceGuard> guards;
  return guards;
}

int64_t CountOfType(H5I_type_t type);

void GuardCommittedSpace(hid_t file, const std::string& path) {
  try {
    hsize_t one = 1;
    Hid space(Check(H5Screate_simple(1, &one, nullptr), "creating the guard's dataspace"));
    Hid dcpl(Check(H5Pcreate(H5P_DATASET_CREATE), "creating the guard's creation list"));
    CheckErr(H5Pset_layout(dcpl, H5D_CONTIGUOUS), "setting the guard's layout");
    CheckErr(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), "setting the guard's allocation time");
    int64_t spaces = CountOfType(H5I_DATASPACE), lists = CountOfType(H5I_GENPROP_LST), types = CountOfType(H5I_DATATYPE);
    hid_t dataset = Check(H5Dcreate_anon(file, H5T_NATIVE_UCHAR, space, dcpl, H5P_DEFAULT),
                          "opening " + path + ": allocating the committed space's guard");
    SpaceGuards()[file] =
        SpaceGuard{dataset, CountOfType(H5I_DATASPACE) - spaces, CountOfType(H5I_GENPROP_LST) - lists, CountOfType(H5I_DATATYPE) - types};
  } catch (...) {
    H5Fclose(file);
    throw;
  }
}

// Closes a file's guard (before the file: an open dataset keeps a file open).
void ReleaseGuard(hid_t file) {
  auto found = SpaceGuards().find(file);
  if (found == SpaceGuards().end()) return;
  H5Dclose(found->second.dataset);
  SpaceGuards().erase(found);
}

// How far each writable parallel file is known to reach on disk (CoverAllocation), and
// its path. Keyed by file id; touched only under ApiLock.
struct Coverage {
  std::string path;
  haddr_t covered = 0;
};
std::map<hid_t, Coverage>& Coverages() {
  static std::map<hid_t, Coverage> coverages;
  return coverages;
}

class OpenCall : public H5Call {
 public:
  OpenCall(Napi::Env env, std::string path, std::string mode, bool parallel, OpenSettings settings)
      : H5Call(env, "ph5.fileOpen"), path_(std::move(path)), mode_(std::move(mode)), parallel_(parallel), settings_(std::move(settings)) {}

 protected:
  void RunLocked() override {
    if (parallel_ && !MpiActive()) Fail(code::kMpi, "a parallel open needs MPI: call mpi.init() first");
    // Decide "exists" once: with mpio, rank 0 may already have created the file when a
    // slower rank looks, so rank 0 looks and tells the others.
    int exists = 0, rank = 0;
    if (parallel_) MpiCheck(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    if (rank == 0) {
      struct stat st;
      exists = stat(path_.c_str(), &st) == 0 ? 1 : 0;
    }
    if (parallel_) MpiCheck(MPI_Bcast(&exists, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    if (mode_ == "create" && exists) Fail(code::kExists, "file " + path_ + " already exists");
    if (mode_ != "create" && !exists) Fail(code::kNotFound, "file " + path_ + " does not exist");

    hid_t fapl = AccessList(parallel_, settings_);
    hid_t id;
    if (mode_ == "create") {
      Hid fcpl = CreationList();
      id = Check(H5Fcreate(path_.c_str(), H5F_ACC_EXCL, fcpl, fapl), "creating " + path_);
    } else {
      id = Check(H5Fopen(path_.c_str(), mode_ == "r" ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl), "opening " + path_);
      if (mode_ != "r") GuardCommittedSpace(id, path_);
    }
    handle_ = g_nextHandle++;
    Files()[handle_] = OpenFile{id, parallel_, mode_ != "r"};
    // 0: the first raw write of the session looks at the file's real size.
    if (parallel_ && mode_ != "r") Coverages()[id] = Coverage{path_, 0};
    Origins()[handle_] = Origin{path_, mode_ == "create"};
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, handle_); }

 private:
  std::string path_, mode_;
  bool parallel_;
  OpenSettings settings_;
  uint32_t handle_ = 0;
};

// The directory a path is in ("." for a bare name).
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// open + fsync/fdatasync + close of a path; a Failure (never thrown) describing what failed.
Failure SyncPath(const std::string& path, bool directory) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return Failure{code::kHdf5, "syncing " + path + ": open: " + std::strerror(errno), ""};
  // A directory: its entries are its data and metadata (fsync). The file: its data and the
  // metadata needed to read it, the size included (fdatasync), not its times.
  int rc = directory ? fsync(fd) : fdatasync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0)
    return Failure{code::kHdf5, std::string("syncing ") + path + ": " + (directory ? "fsync" : "fdatasync") + ": " + std::strerror(err),
                   ""};
  return Failure{};
}

class CloseCall : public FileCall {
 public:
  CloseCall(Napi::Env env, uint32_t handle, bool flushOnly, bool sync)
      : FileCall(env, flushOnly ? "ph5.fileFlush" : "ph5.fileClose", handle), flushOnly_(flushOnly), sync_(sync) {}

 protected:
  void RunOnFile(const OpenFile& f) override {
    if (flushOnly_) {
      // With the mpio driver this ends with MPI_File_sync (H5FD_mpio_flush, not closing).
      CheckErr(H5Fflush(f.id, H5F_SCOPE_GLOBAL), "flushing the file");
      return;
    }
    Origin origin = Origins()[handle_];
    Files().erase(handle_);
    Origins().erase(handle_);
    Coverages().erase(f.id);
    ReleaseGuard(f.id);
    if (!f.writable) {
      CheckErr(H5Fclose(f.id), "closing the file");
      return;
    }
    bool sync = sync_;
    int rank = 0;
    if (f.parallel) {
      // The durable close makes collective calls the plain one does not (the flush, the
      // agreement at the end): if any rank asks for it, every rank does it, so a rank
      // configured differently cannot leave the others inside a collective call.
      int mine = sync ? 1 : 0, any = 0;
      MpiCheck(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce (agreeing on the sync)");
      sync = any != 0;
      MpiCheck(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    }
    if (!sync) {
      CheckErr(H5Fclose(f.id), "closing the file");
      return;
    }
    // HDF5 1.10 closes an mpio file without MPI_File_sync (H5FD_mpio_flush skips it when
    // closing, and OMPIO's MPI_File_close does not fsync), so a closed file may still be
    // only in the page cache. The durable close, on every rank:
    //   1. H5Fflush: every dirty metadata entry is written, then the driver's flush calls
    //      MPI_File_sync (each rank fsyncs the file: its own writes, on the descriptor that
    //      made them, where a write-back error is reported);
    //   2. H5Fclose, always (it is collective; a rank that skipped it would hang the
    //      others). It still writes after the flush: the superblock again, with the end of
    //      allocated space it shrinks when it frees the allocators' unused blocks;
    //   3. fdatasync of the file through a new descriptor, for those last writes (Linux
    //      writes back the file's dirty pages whatever descriptor wrote them), and on rank
    //      0 for a file this open created, fsync of its directory (the file's name) and of
    //      the directory above (ph5 makes a project's directory with its first file);
    //   4. the ranks agree: if any rank failed, the close fails on every rank (the file is
    //      closed on all of them either way).
    Failure failure;
    try {
      CheckErr(H5Fflush(f.id, H5F_SCOPE_GLOBAL), "flushing the file to stable storage");
    } catch (const Failure& e) {
      failure = e;
    }
    bool closed = true;
    try {
      CheckErr(H5Fclose(f.id), "closing the file");
    } catch (const Failure& e) {
      closed = false;
      if (failure.code.empty()) failure = e;
    }
    if (closed && failure.code.empty()) failure = SyncPath(origin.path, false);
    if (closed && failure.code.empty() && origin.created && rank == 0) {
      std::string dir = DirectoryOf(origin.path);
      failure = SyncPath(dir, true);
      std::string above = DirectoryOf(dir);
      if (failure.code.empty() && dir != "/" && dir != "." && above != dir) failure = SyncPath(above, true);
    }
    if (f.parallel) {
      // MINLOC over (ok?, rank): every rank learns the lowest rank that failed, if any.
      struct {
        int ok;
        int rank;
      } in{failure.code.empty() ? 1 : 0, rank}, out{1, 0};
      MpiCheck(MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD),
               "MPI_Allreduce (agreeing on the durable close's outcome)");
      if (failure.code.empty() && out.ok == 0)
        failure = Failure{code::kHdf5,
                          "rank " + std::to_string(out.rank) + " could not sync " + origin.path +
                              " to stable storage, so its writes may not all be durable (the file is closed)",
                          ""};
    }
    if (!failure.code.empty()) throw failure;
  }

 private:
  bool flushOnly_;
  bool sync_;
};

// What the file is open with: the driver, the alignment, and the MPI-IO hints in effect
// (as MPI_File_get_info reports them on the file's MPI handle: what MPI-IO really uses).
class AccessInfoCall : public FileCall {
 public:
  AccessInfoCall(Napi::Env env, uint32_t handle) : FileCall(env, "ph5.fileAccessInfo", handle) {}

 protected:
  void RunOnFile(const OpenFile& f) override {
    parallel_ = f.parallel;
    Hid fapl(Check(H5Fget_access_plist(f.id), "reading the file access list"));
    CheckErr(H5Pget_alignment(fapl, &threshold_, &alignment_), "reading the alignment");
    if (!f.parallel) return;
    void* handle = nullptr;
    CheckErr(H5Fget_vfd_handle(f.id, fapl, &handle), "reading the MPI file handle");
    Info info;
    MpiCheck(MPI_File_get_info(*static_cast<MPI_File*>(handle), info.out()), "MPI_File_get_info");
    int n = 0;
    MpiCheck(MPI_Info_get_nkeys(info.get(), &n), "MPI_Info_get_nkeys");
    for (int i = 0; i < n; i++) {
      char key[MPI_MAX_INFO_KEY + 1] = "";
      MpiCheck(MPI_Info_get_nthkey(info.get(), i, key), "MPI_Info_get_nthkey");
      int length = 0, flag = 0;
      MpiCheck(MPI_Info_get_valuelen(info.get(), key, &length, &flag), "MPI_Info_get_valuelen");
      if (!flag) continue;
      std::string value(static_cast<size_t>(length) + 1, '\0');
      MpiCheck(MPI_Info_get(info.get(), key, length + 1, value.data(), &flag), "MPI_Info_get");
      value.resize(static_cast<size_t>(length));
      hints_.emplace_back(key, value);
    }
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("driver", parallel_ ? "mpio" : "sec2");
    Napi::Object a = Napi::Object::New(env);
    a.Set("threshold", static_cast<double>(threshold_));
    a.Set("alignment", static_cast<double>(alignment_));
    o.Set("alignment", a);
    Napi::Object h = Napi::Object::New(env);
    for (auto& [key, value] : hints_) h.Set(key, value);
    o.Set("hints", h);
    return o;
  }

 private:
  bool parallel_ = false;
  hsize_t threshold_ = 0, alignment_ = 0;
  std::vector<std::pair<std::string, std::string>> hints_;
};

// ---------------------------------------------------------------------------------------
Napi::Value FileOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ToString(env, info[0], "path");
  if (path.empty()) ThrowArgument(env, "path must not be empty");
  std::string mode = ToString(env, info[1], "mode");
  if (mode != "r" && mode != "rw" && mode != "create") ThrowArgument(env, "mode must be 'r', 'rw' or 'create'");
  bool parallel = ToBool(env, info[2], "parallel");
  OpenSettings settings = ToSettings(env, info[3]);
  return (new OpenCall(env, path, mode, parallel, std::move(settings)))->Start();
}

// fileClose(handle, sync?): sync true is the durable close (see CloseCall).
Napi::Value FileClose(const Napi::CallbackInfo& info) {
  uint32_t handle = HandleArg(info);
  bool sync = info.Length() > 1 && !info[1].IsUndefined() && ToBool(info.Env(), info[1], "sync");
  return (new CloseCall(info.Env(), handle, false, sync))->Start();
}
Napi::Value FileFlush(const Napi::CallbackInfo& info) { return (new CloseCall(info.Env(), HandleArg(info), true, false))->Start(); }
Napi::Value FileAccessInfo(const Napi::CallbackInfo& info) { return (new AccessInfoCall(info.Env(), HandleArg(info)))->Start(); }

Napi::Value ObjectCount(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> guard(ApiLock());
  EnsureHdf5();
  ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (n < 0) FailHdf5(code::kHdf5, "counting open objects");
  // An open file's guard (GuardCommittedSpace) is part of the open file.
  n -= static_cast<ssize_t>(SpaceGuards().size());
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// Ids that belong to no file, which H5Fget_obj_count cannot see: dataspaces, property
// lists, transient datatypes (and attributes, counted here by type as well). HDF5 keeps
// some of them open itself (the default property lists, the predefined datatypes), so
// what matters is the count above the baseline taken once the library is initialised
// (IdBaseline).
struct IdCounts {
  int64_t dataspace = 0, propertyList = 0, datatype = 0, attribute = 0;
};

int64_t CountOfType(H5I_type_t type) {
  // The public H5Inmembers refuses HDF5's own id types ("cannot call public function on
  // library type", 1.10), so this asks the function it wraps, H5I_nmembers: exported by
  // every shared libhdf5 since 1.8.7, declared weak so that an HDF5 without it still loads
  // the addon (openIdCounts then fails with PH5_ERR_HDF5).
  if (H5I_nmembers == nullptr) Fail(code::kHdf5, "this HDF5 does not export H5I_nmembers: open ids cannot be counted");
  int64_t n = H5I_nmembers(type);
  if (n < 0) FailHdf5(code::kHdf5, "counting open ids");
  return n;
}

IdCounts CountIds() {  // caller holds ApiLock
  IdCounts c;
  c.dataspace = CountOfType(H5I_DATASPACE);
  // The access lists kept for reuse (AccessList) are not leaks.
  c.propertyList = CountOfType(H5I_GENPROP_LST) - static_cast<int64_t>(AccessLists().size());
  c.datatype = CountOfType(H5I_DATATYPE);
  c.attribute = CountOfType(H5I_ATTR);
  // Nor are the open files' guards (GuardCommittedSpace).
  for (auto& [file, g] : SpaceGuards()) {
    c.dataspace -= g.dataspaces;
    c.propertyList -= g.propertyLists;
    c.datatype -= g.datatypes;
  }
  return c;
}

// Datatype ids HDF5 keeps in its conversion path cache (AdoptDatatypeIds), not leaks.
int64_t& AdoptedDatatypes() {
  static int64_t adopted = 0;
  return adopted;
}

IdCounts& IdBaseline() {
  static IdCounts baseline;
  return baseline;
}

// The counts above the baseline (negative if HDF5 closed one of its own ids).
IdCounts IdsAboveBaseline(double out[4]) {
  IdCounts now = CountIds(), base = IdBaseline();
  out[0] = static_cast<double>(now.dataspace) - static_cast<double>(base.dataspace);
  // Each open file keeps one property list of its own (its creation list); the same file
  // opened twice shares one, hence "at most" and the floor at 0 (a leaked list can then
  // hide behind the second handle, but a count above 0 is always a leak).
  double plists = static_cast<double>(now.propertyList) - static_cast<double>(base.propertyList);
  out[1] = std::max(0.0, plists - static_cast<double>(Files().size()));
  out[2] = static_cast<double>(now.datatype) - static_cast<double>(base.datatype) - static_cast<double>(AdoptedDatatypes());
  out[3] = static_cast<double>(now.attribute) - static_cast<double>(base.attribute);
  return now;
}

// {dataspace, propertyList, datatype, attribute}: open ids of each type above the baseline;
// every call closes what it opens, so all are 0 between calls. `open` has the raw counts.
Napi::Value IdCountsExport(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> guard(ApiLock());
  EnsureHdf5();
  double above[4];
  IdCounts now = IdsAboveBaseline(above);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("dataspace", above[0]);
  o.Set("propertyList", above[1]);
  o.Set("datatype", above[2]);
  o.Set("attribute", above[3]);
  Napi::Object raw = Napi::Object::New(env);
  raw.Set("dataspace", static_cast<double>(now.dataspace));
  raw.Set("propertyList", static_cast<double>(now.propertyList));
  raw.Set("datatype", static_cast<double>(now.datatype));
  raw.Set("attribute", static_cast<double>(now.attribute));
  o.Set("open", raw);
  return o;
}

// Open HDF5 ids that are not the files JS holds open: groups, datasets, named datatypes,
// attributes, and extra file ids, plus dataspaces, property lists and transient datatypes
// above the baseline. Every call closes what it opens, so this is always 0 between calls;
// a non-zero value is a leak.
Napi::Value LeakedObjectCount(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> guard(ApiLock());
  EnsureHdf5();
  ssize_t objects = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR);
  ssize_t files = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE);
  if (objects < 0 || files < 0) FailHdf5(code::kHdf5, "counting open objects");
  double above[4];
  IdsAboveBaseline(above);
  // Attributes are in `objects` already; a named datatype would count twice, but any
  // non-zero value is a leak either way.
  double unattached = above[0] + above[1] + above[2];
  // The guards are datasets the open files hold (GuardCommittedSpace), not leaks.
  objects -= static_cast<ssize_t>(SpaceGuards().size());
  return Napi::Number::New(info.Env(), static_cast<double>(objects + files - static_cast<ssize_t>(Files().size())) + unattached);
}

}  // namespace

void CoverAllocation(const OpenFile& f, haddr_t end) {
  if (!f.parallel || !f.writable) return;
  auto found = Coverages().find(f.id);
  if (found == Coverages().end() || end <= found->second.covered) return;
  int rank = 0;
  MpiCheck(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
  // Rank 0 lengthens the file (never shortens it); the others wait for its word, so no
  // rank's collective write reads the domain before the file is long enough.
  int err = 0;
  if (rank == 0) {
    struct stat st;
    if (stat(found->second.path.c_str(), &st) != 0) err = errno;
    else if (static_cast<haddr_t>(st.st_size) < end && truncate(found->second.path.c_str(), static_cast<off_t>(end)) != 0) err = errno;
  }
  MpiCheck(MPI_Bcast(&err, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  if (err != 0) Fail(code::kHdf5, "extending " + found->second.path + " to the end of its allocated storage: " + std::strerror(err));
  found->second.covered = end;
}

// Closes every file still open (MPI is about to be finalised). Caller holds ApiLock.
void CloseAllFiles() {
  for (auto& [handle, f] : Files()) {
    ReleaseGuard(f.id);
    H5Fclose(f.id);
  }
  Files().clear();
  Origins().clear();
  Coverages().clear();
  H5Eclear2(H5E_DEFAULT);
}

// At teardown of the Node environment (env_lifecycle.cc): closes the serial files still
// open and forgets nothing else. A parallel file is left open: its close is collective,
// and a rank whose environment is going away cannot know that the other ranks will join
// it (they may be in another call, or gone), so trying could hang the exit. Returns how
// many parallel files were left. Caller holds ApiLock.
int CloseSerialFilesAtTeardown() {
  int leftParallel = 0;
  for (auto it = Files().begin(); it != Files().end();) {
    if (it->second.parallel) {
      leftParallel++;
      ++it;
      continue;
    }
    ReleaseGuard(it->second.id);
    H5Fclose(it->second.id);
    Origins().erase(it->first);
    it = Files().erase(it);
  }
  H5Eclear2(H5E_DEFAULT);
  return leftParallel;
}

// Datatype ids HDF5 registers for itself while converting compounds: H5T__conv_struct_init
// keeps one per member type in the conversion path it caches (one set per pair of types,
// until the library closes). They are HDF5's, not a call's: a write that made HDF5 keep
// some moves them into the baseline (AdoptDatatypeIds).
int64_t DatatypeIds() { return H5I_nmembers != nullptr ? H5I_nmembers(H5I_DATATYPE) : -1; }
void AdoptDatatypeIds(int64_t before) {
  if (before < 0 || H5I_nmembers == nullptr) return;
  int64_t kept = H5I_nmembers(H5I_DATATYPE) - before;
  if (kept > 0) AdoptedDatatypes() += kept;
}
// H5close frees the cached conversion paths with everything else.
void ForgetAdoptedIds() { AdoptedDatatypes() = 0; }

void InitH5(Napi::Env env, Napi::Object exports) {
  {
    std::lock_guard<std::mutex> guard(ApiLock());
    EnsureHdf5();  // initialises the library: its own ids are open from here on
    if (H5I_nmembers != nullptr) IdBaseline() = CountIds();
  }
  exports.Set("fileOpen", Export(env, "fileOpen", FileOpen));
  exports.Set("fileClose", Export(env, "fileClose", FileClose));
  exports.Set("fileFlush", Export(env, "fileFlush", FileFlush));
  exports.Set("fileAccessInfo", Export(env, "fileAccessInfo", FileAccessInfo));
  exports.Set("openObjectCount", Export(env, "openObjectCount", ObjectCount));
  exports.Set("leakedObjectCount", Export(env, "leakedObjectCount", LeakedObjectCount));
  exports.Set("openIdCounts", Export(env, "openIdCounts", IdCountsExport));
  InitDatasets(env, exports);
  InitLinks(env, exports);
  InitAttributes(env, exports);
}

}  // namespace ph5
