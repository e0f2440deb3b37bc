// Files and datasets: open/create (mpio or serial), create datasets, collective hyperslab
// writes straight from Node buffers, reads straight into them, metadata.
//
// On a parallel (mpio) file every call is collective: all ranks make the same calls in
// the same order (metadata reads and writes are collective, see OpenCall).
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "common.h"
#include "dtype.h"

namespace ph5 {

namespace {

struct OpenFile {
  hid_t id;
  bool parallel;
};

// hid_t values do not fit a JS number exactly, so JS holds small integers instead.
// Touched only under ApiLock.
std::map<uint32_t, OpenFile>& Files() {
  static std::map<uint32_t, OpenFile> files;
  return files;
}
uint32_t g_nextHandle = 1;

OpenFile LookUp(uint32_t handle) {
  auto it = Files().find(handle);
  if (it == Files().end()) Fail(code::kClosed, "file handle " + std::to_string(handle) + " is closed or unknown");
  return it->second;
}

uint32_t HandleArg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowArgument(env, "expected a file handle (number)");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= UINT32_MAX) || d != static_cast<double>(static_cast<uint32_t>(d)))
    ThrowArgument(env, "a file handle is a positive integer");
  return static_cast<uint32_t>(d);
}

// True when every link along `path` exists (H5Lexists fails, rather than answering no,
// when an intermediate group is missing).
bool PathExists(hid_t loc, const std::string& path) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = path.find('/', pos + 1);
    std::string prefix = path.substr(0, next);
    if (!prefix.empty() && prefix != "/") {
      htri_t e = H5Lexists(loc, prefix.c_str(), H5P_DEFAULT);
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    pos = next;
  }
  return true;
}

void CheckPath(Napi::Env env, const std::string& path) {
  if (path.empty() || path == "/") ThrowArgument(env, "a dataset path must name an object, not the root group");
  if (path.back() == '/') ThrowArgument(env, "a dataset path must not end with '/'");
}

// Every existing prefix of `path` must be a group: HDF5 would report a dataset in the
// way as "object not found".
void CheckParents(hid_t loc, const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string prefix = path.substr(0, pos);
    htri_t e = H5Lexists(loc, prefix.c_str(), H5P_DEFAULT);
    if (e <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return;  // missing: created as an intermediate group
    }
    H5O_info_t info;
    CheckErr(H5Oget_info_by_name(loc, prefix.c_str(), &info, H5P_DEFAULT), "inspecting " + prefix);
    if (info.type != H5O_TYPE_GROUP) Fail(code::kType, prefix + " is not a group, so " + path + " cannot be created");
  }
}

Hid OpenDataset(hid_t file, const std::string& path) {
  if (!PathExists(file, path)) Fail(code::kNotFound, "no dataset at " + path);
  H5O_info_t info;
  CheckErr(H5Oget_info_by_name(file, path.c_str(), &info, H5P_DEFAULT), "inspecting " + path);
  if (info.type != H5O_TYPE_DATASET) Fail(code::kType, path + " is not a dataset");
  return Hid(Check(H5Dopen2(file, path.c_str(), H5P_DEFAULT), "opening dataset " + path));
}

// ---------------------------------------------------------------------------------------
// Selections
struct Selection {
  bool present = false;
  std::vector<hsize_t> start, stride, count;
};

Selection ToSelection(Napi::Env env, const Napi::Value& v) {
  Selection s;
  if (v.IsNull() || v.IsUndefined()) return s;
  if (!v.IsObject() || v.IsArray()) ThrowArgument(env, "selection must be {start, stride, count} or null");
  Napi::Object o = v.As<Napi::Object>();
  s.present = true;
  s.start = ToDims(env, o.Get("start"), "selection.start", false);
  s.count = ToDims(env, o.Get("count"), "selection.count", false);
  Napi::Value stride = o.Get("stride");
  s.stride = stride.IsUndefined() || stride.IsNull() ? std::vector<hsize_t>(s.count.size(), 1) : ToDims(env, stride, "selection.stride", false);
  if (s.start.size() != s.count.size() || s.stride.size() != s.count.size())
    ThrowArgument(env, "selection.start, stride and count must have the same length");
  for (size_t i = 0; i < s.stride.size(); i++)
    if (s.stride[i] == 0) ThrowArgument(env, "selection.stride[" + std::to_string(i) + "] must be at least 1");
  return s;
}

std::vector<hsize_t> Extent(hid_t space) {
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) FailHdf5(code::kHdf5, "reading the dataspace rank");
  std::vector<hsize_t> dims(rank);
  if (rank > 0) CheckErr(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "reading the dataspace extent");
  return dims;
}

std::string DimsText(const std::vector<hsize_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); i++) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// Applies `sel` to the dataset's file space, checked against the extent first so that a
// bad selection is a clear PH5_ERR_SELECTION rather than an HDF5 stack. An absent selection
// selects nothing (`noneWhenAbsent`, for writes) or everything (reads). Returns the count.
hsize_t SelectInFile(hid_t space, const Selection& sel, bool noneWhenAbsent) {
  std::vector<hsize_t> dims = Extent(space);
  if (!sel.present) {
    if (noneWhenAbsent) {
      CheckErr(H5Sselect_none(space), "selecting nothing");
      return 0;
    }
    CheckErr(H5Sselect_all(space), "selecting everything");
    hssize_t n = H5Sget_select_npoints(space);
    if (n < 0) FailHdf5(code::kHdf5, "counting the selection");
    return static_cast<hsize_t>(n);
  }
  if (sel.count.size() != dims.size())
    Fail(code::kSelection, "the selection has " + std::to_string(sel.count.size()) + " dimensions, the dataset " +
                               std::to_string(dims.size()) + " (shape " + DimsText(dims) + ")");
  if (dims.empty()) {  // scalar dataset: the only selection is "everything"
    CheckErr(H5Sselect_all(space), "selecting the scalar");
    return 1;
  }
  hsize_t n = 1;
  for (size_t i = 0; i < dims.size(); i++) {
    if (sel.count[i] == 0) {
      n = 0;
      continue;
    }
    // start + (count-1)*stride < dim, without overflow.
    if (sel.start[i] >= dims[i] || (sel.count[i] - 1) > (dims[i] - 1 - sel.start[i]) / sel.stride[i])
      Fail(code::kSelection, "the selection start " + DimsText(sel.start) + " stride " + DimsText(sel.stride) + " count " +
                                 DimsText(sel.count) + " reaches past the extent " + DimsText(dims) + " in dimension " +
                                 std::to_string(i));
    n *= sel.count[i];
  }
  if (n == 0) {
    CheckErr(H5Sselect_none(space), "selecting nothing");
    return 0;
  }
  CheckErr(H5Sselect_hyperslab(space, H5S_SELECT_SET, sel.start.data(), sel.stride.data(), sel.count.data(), nullptr),
           "selecting the hyperslab");
  return n;
}

// The memory side of a transfer: n contiguous elements (or nothing).
Hid MemorySpace(hsize_t n) {
  hsize_t dims[1] = {n > 0 ? n : 1};
  Hid space(Check(H5Screate_simple(1, dims, nullptr), "creating the memory space"));
  if (n == 0) CheckErr(H5Sselect_none(space), "selecting nothing in memory");
  return space;
}

size_t ByteCount(hsize_t n, size_t itemSize) {
  if (itemSize > 0 && n > SIZE_MAX / itemSize) Fail(code::kSelection, "the selection is too large to hold in memory");
  return static_cast<size_t>(n) * itemSize;
}

std::vector<std::string> CauseNames(uint32_t causes) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {H5D_MPIO_SET_INDEPENDENT, "H5D_MPIO_SET_INDEPENDENT"},
      {H5D_MPIO_DATATYPE_CONVERSION, "H5D_MPIO_DATATYPE_CONVERSION"},
      {H5D_MPIO_DATA_TRANSFORMS, "H5D_MPIO_DATA_TRANSFORMS"},
      {H5D_MPIO_MPI_OPT_TYPES_ENV_VAR_DISABLED, "H5D_MPIO_MPI_OPT_TYPES_ENV_VAR_DISABLED"},
      {H5D_MPIO_NOT_SIMPLE_OR_SCALAR_DATASPACES, "H5D_MPIO_NOT_SIMPLE_OR_SCALAR_DATASPACES"},
      {H5D_MPIO_NOT_CONTIGUOUS_OR_CHUNKED_DATASET, "H5D_MPIO_NOT_CONTIGUOUS_OR_CHUNKED_DATASET"},
      {H5D_MPIO_PARALLEL_FILTERED_WRITES_DISABLED, "H5D_MPIO_PARALLEL_FILTERED_WRITES_DISABLED"},
      {H5D_MPIO_ERROR_WHILE_CHECKING_COLLECTIVE_POSSIBLE, "H5D_MPIO_ERROR_WHILE_CHECKING_COLLECTIVE_POSSIBLE"},
  };
  std::vector<std::string> out;
  for (auto& [bit, name] : kNames)
    if (causes & bit) out.push_back(name);
  return out;
}

Napi::Array ToArray(Napi::Env env, const std::vector<hsize_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), v[i] == H5S_UNLIMITED ? -1.0 : static_cast<double>(v[i]));
  return a;
}

// Blocking MPI helpers for use inside an HDF5 call on a parallel file (all ranks are in
// the same call, in the same order, so a short blocking collective is safe here).
void MpiCheck(int err, const char* what) {
  if (err != MPI_SUCCESS) FailMpi(err, what);
}

// ---------------------------------------------------------------------------------------
class OpenCall : public AsyncCall {
 public:
  OpenCall(Napi::Env env, std::string path, std::string mode, bool parallel)
      : AsyncCall(env, "ph5.fileOpen"), path_(std::move(path)), mode_(std::move(mode)), parallel_(parallel) {}

 protected:
  void Run() override {
    auto lock = Lock();
    EndTurn();
    EnsureHdf5();
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

    Hid fapl(Check(H5Pcreate(H5P_FILE_ACCESS), "creating the file access list"));
    if (parallel_) {
      CheckErr(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL), "selecting the mpio driver");
      // Metadata is read once and broadcast, and written collectively: every call on a
      // parallel file is collective.
      CheckErr(H5Pset_all_coll_metadata_ops(fapl, true), "enabling collective metadata reads");
      CheckErr(H5Pset_coll_metadata_write(fapl, true), "enabling collective metadata writes");
    }
    hid_t id;
    if (mode_ == "create") {
      id = Check(H5Fcreate(path_.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl), "creating " + path_);
    } else {
      id = Check(H5Fopen(path_.c_str(), mode_ == "r" ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl), "opening " + path_);
    }
    handle_ = g_nextHandle++;
    Files()[handle_] = OpenFile{id, parallel_};
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, handle_); }

 private:
  std::string path_, mode_;
  bool parallel_;
  uint32_t handle_ = 0;
};

class CloseCall : public AsyncCall {
 public:
  CloseCall(Napi::Env env, uint32_t handle, bool flushOnly)
      : AsyncCall(env, flushOnly ? "ph5.fileFlush" : "ph5.fileClose"), handle_(handle), flushOnly_(flushOnly) {}

 protected:
  void Run() override {
    auto lock = Lock();
    EndTurn();
    EnsureHdf5();
    OpenFile f = LookUp(handle_);
    if (flushOnly_) {
      CheckErr(H5Fflush(f.id, H5F_SCOPE_GLOBAL), "flushing the file");
      return;
    }
    Files().erase(handle_);
    CheckErr(H5Fclose(f.id), "closing the file");
  }

 private:
  uint32_t handle_;
  bool flushOnly_;
};

// ---------------------------------------------------------------------------------------
class CreateDatasetCall : public AsyncCall {
 public:
  CreateDatasetCall(Napi::Env env, uint32_t handle, std::string path, const Napi::Object& o)
      : AsyncCall(env, "ph5.datasetCreate"), handle_(handle), path_(std::move(path)) {
    CheckPath(env, path_);
    dtype_ = ToDtype(env, o.Get("dtype"), "dtype");
    shape_ = ToDims(env, o.Get("shape"), "shape", false);
    Napi::Value maxshape = o.Get("maxshape");
    maxshape_ = maxshape.IsUndefined() || maxshape.IsNull() ? shape_ : ToDims(env, maxshape, "maxshape", true);
    if (maxshape_.size() != shape_.size()) ThrowArgument(env, "maxshape must have as many dimensions as shape");
    bool unlimited = false;
    for (size_t i = 0; i < shape_.size(); i++) {
      if (maxshape_[i] == H5S_UNLIMITED) unlimited = true;
      else if (maxshape_[i] < shape_[i]) ThrowArgument(env, "maxshape must be at least shape in every dimension");
    }
    Napi::Value chunks = o.Get("chunks");
    if (!chunks.IsUndefined() && !chunks.IsNull()) {
      chunks_ = ToDims(env, chunks, "chunks", false);
      if (chunks_.size() != shape_.size()) ThrowArgument(env, "chunks must have as many dimensions as shape");
      if (shape_.empty()) ThrowArgument(env, "a scalar dataset cannot be chunked");
      double bytes = static_cast<double>(dtype_.size);
      for (size_t i = 0; i < chunks_.size(); i++) {
        if (chunks_[i] == 0) ThrowArgument(env, "chunk dimensions must be at least 1");
        if (maxshape_[i] != H5S_UNLIMITED && chunks_[i] > maxshape_[i])
          ThrowArgument(env, "chunks must not be larger than maxshape in a fixed-size dimension");
        bytes *= static_cast<double>(chunks_[i]);
      }
      if (bytes >= 4294967296.0) ThrowArgument(env, "a chunk must be smaller than 4 GiB");
    } else if (unlimited) {
      chunks_ = DefaultChunks();
    }
    Napi::Value fill = o.Get("fillValue");
    if (!fill.IsUndefined() && !fill.IsNull()) {
      if (!fill.IsBuffer()) ThrowArgument(env, "fillValue must be a Buffer holding one element");
      auto b = fill.As<Napi::Buffer<uint8_t>>();
      if (b.Length() != dtype_.size)
        ThrowArgument(env, "fillValue must be exactly one element (" + std::to_string(dtype_.size) + " bytes) of the dtype");
      fill_.assign(b.Data(), b.Data() + b.Length());
      hasFill_ = true;
    }
  }

 protected:
  void Run() override {
    auto lock = Lock();
    EndTurn();
    EnsureHdf5();
    OpenFile f = LookUp(handle_);
    if (PathExists(f.id, path_)) Fail(code::kExists, "an object already exists at " + path_);
    CheckParents(f.id, path_);
    Hid type = MakeType(dtype_);
    Hid space(shape_.empty() ? Check(H5Screate(H5S_SCALAR), "creating a scalar dataspace")
                             : Check(H5Screate_simple(static_cast<int>(shape_.size()), shape_.data(), maxshape_.data()),
                                     "creating the dataspace"));
    Hid dcpl(Check(H5Pcreate(H5P_DATASET_CREATE), "creating the dataset creation list"));
    if (!chunks_.empty()) CheckErr(H5Pset_chunk(dcpl, static_cast<int>(chunks_.size()), chunks_.data()), "setting the chunk shape");
    if (hasFill_) {
      CheckErr(H5Pset_fill_value(dcpl, type, fill_.data()), "setting the fill value");
    } else {
      // Parallel HDF5 allocates the whole dataset at creation and would write the fill
      // value over all of it: up to twice the cost of the write that follows.
      CheckErr(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "disabling the fill pass");
    }
    Hid lcpl(Check(H5Pcreate(H5P_LINK_CREATE), "creating the link creation list"));
    CheckErr(H5Pset_create_intermediate_group(lcpl, 1), "allowing intermediate groups");
    Hid dset(Check(H5Dcreate2(f.id, path_.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), "creating dataset " + path_));
  }

 private:
  // About 1 MiB per chunk, filled from the last (fastest) dimension: a fixed dimension
  // contributes at most its size, an unlimited one whatever the budget still allows.
  std::vector<hsize_t> DefaultChunks() const {
    std::vector<hsize_t> c(shape_.size(), 1);
    hsize_t budget = std::max<hsize_t>(1, (hsize_t(1) << 20) / std::max<size_t>(1, dtype_.size));
    for (size_t i = shape_.size(); i-- > 0;) {
      hsize_t limit = maxshape_[i] == H5S_UNLIMITED ? budget : std::max<hsize_t>(1, maxshape_[i]);
      c[i] = std::max<hsize_t>(1, std::min(limit, budget));
      budget = std::max<hsize_t>(1, budget / c[i]);
    }
    return c;
  }

  uint32_t handle_;
  std::string path_;
  Dtype dtype_;
  std::vector<hsize_t> shape_, maxshape_, chunks_;
  std::vector<uint8_t> fill_;
  bool hasFill_ = false;
};

class InfoCall : public AsyncCall {
 public:
  InfoCall(Napi::Env env, uint32_t handle, std::string path) : AsyncCall(env, "ph5.datasetInfo"), handle_(handle), path_(std::move(path)) {
    CheckPath(env, path_);
  }

 protected:
  void Run() override {
    auto lock = Lock();
    EndTurn();
    EnsureHdf5();
    OpenFile f = LookUp(handle_);
    Hid dset = OpenDataset(f.id, path_);
    Hid type(Check(H5Dget_type(dset), "reading the type"));
    dtype_ = DescribeType(type);
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0) FailHdf5(code::kHdf5, "reading the dataspace rank");
    shape_.resize(rank);
    maxshape_.resize(rank);
    if (rank > 0) CheckErr(H5Sget_simple_extent_dims(space, shape_.data(), maxshape_.data()), "reading the dataspace extent");
    Hid dcpl(Check(H5Dget_create_plist(dset), "reading the creation list"));
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if (layout < 0) FailHdf5(code::kHdf5, "reading the layout");
    layout_ = layout == H5D_CHUNKED ? "chunked" : layout == H5D_COMPACT ? "compact" : "contiguous";
    if (layout == H5D_CHUNKED) {
      chunks_.resize(rank);
      if (H5Pget_chunk(dcpl, rank, chunks_.data()) < 0) FailHdf5(code::kHdf5, "reading the chunk shape");
    }
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("dtype", FromDtype(env, dtype_));
    o.Set("shape", ToArray(env, shape_));
    o.Set("maxshape", ToArray(env, maxshape_));
    o.Set("layout", layout_);
    o.Set("chunks", layout_ == "chunked" ? Napi::Value(ToArray(env, chunks_)) : env.Null());
    return o;
  }

 private:
  uint32_t handle_;
  std::string path_;
  Dtype dtype_;
  std::vector<hsize_t> shape_, maxshape_, chunks_;
  std::string layout_;
};

// ---------------------------------------------------------------------------------------
class WriteCall : public AsyncCall {
 public:
  WriteCall(Napi::Env env, uint32_t handle, std::string path, Selection sel, Napi::Buffer<uint8_t> data, bool collective,
            const Napi::Value& memDtype)
      : AsyncCall(env, "ph5.datasetWrite"), handle_(handle), path_(std::move(path)), sel_(std::move(sel)), collective_(collective) {
    CheckPath(env, path_);
    if (!memDtype.IsNull() && !memDtype.IsUndefined()) {
      memDtype_ = ToDtype(env, memDtype, "memDtype");
      hasMemDtype_ = true;
    }
    // The Buffer stays referenced until the call settles: HDF5 reads it in place.
    keep_ = Napi::Persistent(data.As<Napi::Object>());
    data_ = data.Data();
    length_ = data.Length();
  }

 protected:
  void Run() override {
    auto lock = Lock();
    EndTurn();
    EnsureHdf5();
    OpenFile f = LookUp(handle_);
    Hid dset = OpenDataset(f.id, path_);  // collective metadata: same outcome on every rank
    Hid fileType(Check(H5Dget_type(dset), "reading the type"));
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    Hid memType;
    hsize_t n = 0;
    // Checks that can differ between ranks. On a parallel file the ranks agree on the
    // outcome before anyone enters H5Dwrite: one rank refusing must not leave the others
    // waiting in a collective write forever.
    Failure local;
    try {
      Dtype fileDtype = DescribeType(fileType);
      if (hasMemDtype_) {
        if ((memDtype_.kind == Kind::Bytes) != (fileDtype.kind == Kind::Bytes) ||
            (memDtype_.kind == Kind::Bool) != (fileDtype.kind == Kind::Bool))
          Fail(code::kType, "cannot write " + memDtype_.Name() + " data into a " + fileDtype.Name() + " dataset");
        memType = MakeType(memDtype_);
      } else {
        memType = Hid(Check(H5Tcopy(fileType), "copying the type"));
      }
      n = SelectInFile(space, sel_, true);
      size_t need = ByteCount(n, H5Tget_size(memType));
      if (need != length_)
        Fail(code::kSelection, "the data has " + std::to_string(length_) + " bytes but the selection of " + std::to_string(n) +
                                   " elements needs " + std::to_string(need));
    } catch (const Failure& failure) {
      local = failure;
    }
    if (f.parallel) Agree(local);
    else if (!local.code.empty()) throw local;

    Hid memSpace = MemorySpace(n);
    Hid dxpl(Check(H5Pcreate(H5P_DATASET_XFER), "creating the transfer list"));
    if (f.parallel) {
      bool useCollective = collective_;
      // Filtered datasets can only be written collectively in HDF5 1.10.
      Hid dcpl(Check(H5Dget_create_plist(dset), "reading the creation list"));
      if (H5Pget_nfilters(dcpl) > 0) useCollective = true;
      CheckErr(H5Pset_dxpl_mpio(dxpl, useCollective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT), "choosing the transfer mode");
    }
    CheckErr(H5Dwrite(dset, memType, memSpace, space, dxpl, n > 0 ? data_ : nullptr), "writing " + path_);
    if (f.parallel) {
      H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
      uint32_t localCause = 0, globalCause = 0;
      if (H5Pget_mpio_actual_io_mode(dxpl, &mode) >= 0) didCollective_ = mode != H5D_MPIO_NO_COLLECTIVE;
      if (H5Pget_mpio_no_collective_cause(dxpl, &localCause, &globalCause) >= 0) causes_ = CauseNames(localCause | globalCause);
      H5Eclear2(H5E_DEFAULT);
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("collective", didCollective_);
    Napi::Array causes = Napi::Array::New(env, causes_.size());
    for (size_t i = 0; i < causes_.size(); i++) causes.Set(static_cast<uint32_t>(i), causes_[i]);
    o.Set("noCollectiveCause", causes);
    return o;
  }

 private:
  // Every rank learns whether some rank failed (and which code, from which rank): one
  // MPI_Allreduce with MINLOC over (code index, rank), 100 meaning "fine".
  void Agree(const Failure& local) {
    static const char* const kCodes[] = {code::kNotFound, code::kExists,  code::kType, code::kSelection,
                                         code::kArgument, code::kClosed, code::kMpi,  code::kHdf5};
    constexpr int kFine = 100;
    int mine = kFine;
    if (!local.code.empty()) {
      mine = 7;
      for (int i = 0; i < 8; i++)
        if (local.code == kCodes[i]) mine = i;
    }
    struct {
      int value;
      int rank;
    } in{mine, 0}, out{kFine, 0};
    MpiCheck(MPI_Comm_rank(MPI_COMM_WORLD, &in.rank), "MPI_Comm_rank");
    MpiCheck(MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD), "MPI_Allreduce (write checks)");
    if (!local.code.empty()) throw local;
    if (out.value != kFine)
      Fail(kCodes[out.value], "rank " + std::to_string(out.rank) + " refused its part of this collective write of " + path_ +
                                  " (" + kCodes[out.value] + "), so no rank wrote");
  }

  uint32_t handle_;
  std::string path_;
  Selection sel_;
  bool collective_;
  Napi::ObjectReference keep_;
  const uint8_t* data_ = nullptr;
  size_t length_ = 0;
  Dtype memDtype_;
  bool hasMemDtype_ = false;
  bool didCollective_ = false;
  std::vector<std::string> causes_;
};

class ReadCall : public AsyncCall {
 public:
  ReadCall(Napi::Env env, uint32_t handle, std::string path, Selection sel)
      : AsyncCall(env, "ph5.datasetRead"), handle_(handle), path_(std::move(path)), sel_(std::move(sel)) {
    CheckPath(env, path_);
  }
  ~ReadCall() override { std::free(bytes_); }

 protected:
  void Run() override {
    auto lock = Lock();
    EndTurn();
    EnsureHdf5();
    OpenFile f = LookUp(handle_);
    Hid dset = OpenDataset(f.id, path_);
    Hid type(Check(H5Dget_type(dset), "reading the type"));
    DescribeType(type);  // refuse types ph5 cannot name rather than return opaque bytes
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    hsize_t n = SelectInFile(space, sel_, false);
    length_ = ByteCount(n, H5Tget_size(type));
    bytes_ = static_cast<uint8_t*>(std::malloc(length_ > 0 ? length_ : 1));
    if (!bytes_) Fail(code::kArgument, "cannot allocate " + std::to_string(length_) + " bytes for the read");
    if (n == 0) return;
    Hid memSpace = MemorySpace(n);
    Hid dxpl(Check(H5Pcreate(H5P_DATASET_XFER), "creating the transfer list"));
    if (f.parallel) CheckErr(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_INDEPENDENT), "choosing the transfer mode");
    CheckErr(H5Dread(dset, type, memSpace, space, dxpl, bytes_), "reading " + path_);
  }
  Napi::Value Result(Napi::Env env) override {
    // HDF5 read straight into this memory; the Buffer takes it over and Node frees it.
    uint8_t* bytes = bytes_;
    bytes_ = nullptr;
    return Napi::Buffer<uint8_t>::New(env, bytes, length_, [](Napi::Env, uint8_t* p) { std::free(p); });
  }

 private:
  uint32_t handle_;
  std::string path_;
  Selection sel_;
  uint8_t* bytes_ = nullptr;
  size_t length_ = 0;
};

// ---------------------------------------------------------------------------------------
Napi::Value FileOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ToString(env, info[0], "path");
  if (path.empty()) ThrowArgument(env, "path must not be empty");
  std::string mode = ToString(env, info[1], "mode");
  if (mode != "r" && mode != "rw" && mode != "create") ThrowArgument(env, "mode must be 'r', 'rw' or 'create'");
  bool parallel = ToBool(env, info[2], "parallel");
  return (new OpenCall(env, path, mode, parallel))->Start();
}

Napi::Value FileClose(const Napi::CallbackInfo& info) { return (new CloseCall(info.Env(), HandleArg(info), false))->Start(); }
Napi::Value FileFlush(const Napi::CallbackInfo& info) { return (new CloseCall(info.Env(), HandleArg(info), true))->Start(); }

Napi::Value ObjectCount(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> guard(ApiLock());
  EnsureHdf5();
  ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (n < 0) FailHdf5(code::kHdf5, "counting open objects");
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value DatasetCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  if (!info[2].IsObject()) ThrowArgument(env, "dataset options must be an object");
  return (new CreateDatasetCall(env, handle, path, info[2].As<Napi::Object>()))->Start();
}

Napi::Value DatasetInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  return (new InfoCall(env, handle, ToString(env, info[1], "path")))->Start();
}

Napi::Value DatasetWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  Selection sel = ToSelection(env, info[2]);
  if (!info[3].IsBuffer()) ThrowArgument(env, "data must be a Buffer");
  bool collective = ToBool(env, info[4], "collective");
  return (new WriteCall(env, handle, path, std::move(sel), info[3].As<Napi::Buffer<uint8_t>>(), collective, info[5]))->Start();
}

Napi::Value DatasetRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  return (new ReadCall(env, handle, path, ToSelection(env, info[2])))->Start();
}

}  // namespace

// Closes every file still open (MPI is about to be finalised). Caller holds ApiLock.
void CloseAllFiles() {
  for (auto& [handle, f] : Files()) H5Fclose(f.id);
  Files().clear();
  H5Eclear2(H5E_DEFAULT);
}

void InitH5(Napi::Env env, Napi::Object exports) {
  {
    std::lock_guard<std::mutex> guard(ApiLock());
    EnsureHdf5();
  }
  exports.Set("fileOpen", Export(env, "fileOpen", FileOpen));
  exports.Set("fileClose", Export(env, "fileClose", FileClose));
  exports.Set("fileFlush", Export(env, "fileFlush", FileFlush));
  exports.Set("openObjectCount", Export(env, "openObjectCount", ObjectCount));
  exports.Set("datasetCreate", Export(env, "datasetCreate", DatasetCreate));
  exports.Set("datasetInfo", Export(env, "datasetInfo", DatasetInfo));
  exports.Set("datasetWrite", Export(env, "datasetWrite", DatasetWrite));
  exports.Set("datasetRead", Export(env, "datasetRead", DatasetRead));
}

}  // namespace ph5
