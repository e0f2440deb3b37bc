// Files and datasets: open/create (mpio or serial), create datasets, collective
// hyperslab writes, reads straight into Node buffers, metadata.
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "common.h"
#include "dtype.h"

namespace ph5 {
namespace {

struct OpenFile {
  hid_t id;
  bool parallel;
};

// hid_t values do not fit a JS number exactly, so JS holds small integers instead.
// Only touched under ApiLock().
std::map<uint32_t, OpenFile>& Files() {
  static std::map<uint32_t, OpenFile> files;
  return files;
}
uint32_t nextHandle = 1;

OpenFile LookUp(uint32_t handle) {
  auto it = Files().find(handle);
  if (it == Files().end()) Fail("PH5_ERR_CLOSED", "the file handle is closed or unknown");
  return it->second;
}

uint32_t HandleArg(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) ThrowArgument(info.Env(), "expected a file handle");
  return info[0].As<Napi::Number>().Uint32Value();
}

void EnsureHdf5() {
  static bool done = false;
  if (done) return;
  // Errors are reported to JS with their stack; HDF5 must not print them itself.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  done = true;
}

bool MpiReady() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  return init && !fin;
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

Hid OpenDataset(hid_t file, const std::string& path) {
  if (!PathExists(file, path)) Fail("PH5_ERR_NOT_FOUND", "no dataset at " + path);
  H5O_info_t info;
  CheckErr(H5Oget_info_by_name(file, path.c_str(), &info, H5P_DEFAULT), "inspecting the object");
  if (info.type != H5O_TYPE_DATASET) Fail("PH5_ERR_TYPE", path + " is not a dataset");
  return Hid(Check(H5Dopen2(file, path.c_str(), H5P_DEFAULT), "opening the dataset"));
}

struct Selection {
  bool present = false;
  std::vector<hsize_t> start, stride, count;
};

Selection ToSelection(Napi::Env env, const Napi::Value& v) {
  Selection s;
  if (v.IsNull() || v.IsUndefined()) return s;
  if (!v.IsObject()) ThrowArgument(env, "selection must be {start, stride, count} or null");
  Napi::Object o = v.As<Napi::Object>();
  s.present = true;
  s.start = ToDims(env, o.Get("start"), "selection.start");
  s.stride = ToDims(env, o.Get("stride"), "selection.stride");
  s.count = ToDims(env, o.Get("count"), "selection.count");
  if (s.start.size() != s.count.size() || s.stride.size() != s.count.size())
    ThrowArgument(env, "selection.start, stride and count must have the same length");
  for (size_t i = 0; i < s.count.size(); i++) {
    if (s.stride[i] == 0 || s.stride[i] == H5S_UNLIMITED || s.start[i] == H5S_UNLIMITED || s.count[i] == H5S_UNLIMITED)
      ThrowArgument(env, "selection strides must be at least 1");
  }
  return s;
}

// Applies `sel` to the dataset's file space, checking it against the extent first so a
// bad selection is a clear PH5_ERR_SELECTION, not an HDF5 stack. Returns the element count.
hsize_t SelectInFile(hid_t space, const Selection& sel, bool noneWhenAbsent) {
  if (!sel.present) {
    if (noneWhenAbsent) {
      CheckErr(H5Sselect_none(space), "selecting nothing");
      return 0;
    }
    CheckErr(H5Sselect_all(space), "selecting everything");
    hssize_t n = H5Sget_simple_extent_npoints(space);
    return n < 0 ? 0 : static_cast<hsize_t>(n);
  }
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(rank > 0 ? rank : 0);
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  if (static_cast<size_t>(rank) != sel.count.size())
    Fail("PH5_ERR_SELECTION", "the selection has " + std::to_string(sel.count.size()) + " dimensions, the dataset " + std::to_string(rank));
  hsize_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (sel.count[i] == 0) Fail("PH5_ERR_SELECTION", "the selection is empty in dimension " + std::to_string(i));
    hsize_t last = sel.start[i] + (sel.count[i] - 1) * sel.stride[i];
    if (last >= dims[i])
      Fail("PH5_ERR_SELECTION", "the selection reaches index " + std::to_string(last) + " in dimension " + std::to_string(i) +
                                    ", past the extent " + std::to_string(dims[i]));
    n *= sel.count[i];
  }
  if (rank == 0) {
    CheckErr(H5Sselect_all(space), "selecting the scalar");
    return 1;
  }
  CheckErr(H5Sselect_hyperslab(space, H5S_SELECT_SET, sel.start.data(), sel.stride.data(), sel.count.data(), nullptr),
           "selecting the hyperslab");
  return n;
}

Hid MemorySpace(hsize_t n) {
  hsize_t dims[1] = {n > 0 ? n : 1};
  Hid space(Check(H5Screate_simple(1, dims, nullptr), "creating the memory space"));
  if (n == 0) CheckErr(H5Sselect_none(space), "selecting nothing in memory");
  return space;
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

Napi::Array ToArray(Napi::Env env, const std::vector<hsize_t>& v, bool unlimitedAsMinusOne) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++)
    a.Set(static_cast<uint32_t>(i), unlimitedAsMinusOne && v[i] == H5S_UNLIMITED ? -1.0 : static_cast<double>(v[i]));
  return a;
}

// ---------------------------------------------------------------------------------------
class OpenCall : public AsyncCall {
 public:
  OpenCall(Napi::Env env, std::string path, std::string mode, bool parallel)
      : AsyncCall(env, "ph5.fileOpen"), path_(std::move(path)), mode_(std::move(mode)), parallel_(parallel) {}

 protected:
  void Run() override {
    std::lock_guard<std::mutex> guard(ApiLock());
    EnsureHdf5();
    if (parallel_ && !MpiReady()) Fail("PH5_ERR_MPI", "a parallel open needs MPI: call mpi.init() first");
    struct stat st;
    bool exists = stat(path_.c_str(), &st) == 0;
    if (mode_ == "create" && exists) Fail("PH5_ERR_EXISTS", "file " + path_ + " already exists");
    if (mode_ != "create" && !exists) Fail("PH5_ERR_NOT_FOUND", "file " + path_ + " does not exist");
    Hid fapl(Check(H5Pcreate(H5P_FILE_ACCESS), "creating the file access list"));
    if (parallel_) {
      CheckErr(H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL), "selecting the mpio driver");
      // Metadata reads and writes done once, collectively, instead of by every rank.
      CheckErr(H5Pset_all_coll_metadata_ops(fapl, true), "enabling collective metadata reads");
      CheckErr(H5Pset_coll_metadata_write(fapl, true), "enabling collective metadata writes");
    }
    hid_t id;
    if (mode_ == "create") {
      id = Check(H5Fcreate(path_.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl), ("creating " + path_).c_str());
    } else {
      id = Check(H5Fopen(path_.c_str(), mode_ == "r" ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl), ("opening " + path_).c_str());
    }
    handle_ = nextHandle++;
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
    std::lock_guard<std::mutex> guard(ApiLock());
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

class CreateDatasetCall : public AsyncCall {
 public:
  CreateDatasetCall(Napi::Env env, uint32_t handle, std::string path, const Napi::Object& o) : AsyncCall(env, "ph5.datasetCreate"), handle_(handle), path_(std::move(path)) {
    dtype_ = ToDtype(env, o.Get("dtype"));
    shape_ = ToDims(env, o.Get("shape"), "shape");
    for (hsize_t d : shape_)
      if (d == H5S_UNLIMITED) ThrowArgument(env, "shape must not contain -1 (use maxshape for unlimited dimensions)");
    maxshape_ = o.Has("maxshape") && !o.Get("maxshape").IsUndefined() ? ToDims(env, o.Get("maxshape"), "maxshape") : shape_;
    if (maxshape_.size() != shape_.size()) ThrowArgument(env, "maxshape must have as many dimensions as shape");
    for (size_t i = 0; i < shape_.size(); i++)
      if (maxshape_[i] != H5S_UNLIMITED && maxshape_[i] < shape_[i]) ThrowArgument(env, "maxshape must be at least shape");
    if (o.Has("chunks") && !o.Get("chunks").IsUndefined()) {
      chunks_ = ToDims(env, o.Get("chunks"), "chunks");
      if (chunks_.size() != shape_.size()) ThrowArgument(env, "chunks must have as many dimensions as shape");
      for (hsize_t c : chunks_)
        if (c == 0 || c == H5S_UNLIMITED) ThrowArgument(env, "chunk dimensions must be positive");
    }
    if (o.Has("fillValue") && o.Get("fillValue").IsBuffer()) {
      auto b = o.Get("fillValue").As<Napi::Buffer<uint8_t>>();
      if (b.Length() != dtype_.size) ThrowArgument(env, "fillValue must be exactly one element of the dtype");
      fill_.assign(b.Data(), b.Data() + b.Length());
      hasFill_ = true;
    }
  }

 protected:
  void Run() override {
    std::lock_guard<std::mutex> guard(ApiLock());
    OpenFile f = LookUp(handle_);
    if (PathExists(f.id, path_)) Fail("PH5_ERR_EXISTS", "an object already exists at " + path_);
    Hid type = MakeType(dtype_);
    Hid space(shape_.empty() ? Check(H5Screate(H5S_SCALAR), "creating a scalar space")
                             : Check(H5Screate_simple(static_cast<int>(shape_.size()), shape_.data(), maxshape_.data()), "creating the dataspace"));
    Hid dcpl(Check(H5Pcreate(H5P_DATASET_CREATE), "creating the dataset creation list"));
    bool unlimited = false;
    for (hsize_t m : maxshape_) unlimited = unlimited || m == H5S_UNLIMITED;
    if (unlimited && chunks_.empty()) chunks_ = DefaultChunks();
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
    Hid dset(Check(H5Dcreate2(f.id, path_.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), ("creating dataset " + path_).c_str()));
  }

 private:
  // About 1 MiB per chunk, the extent's own shape where it is smaller.
  std::vector<hsize_t> DefaultChunks() const {
    std::vector<hsize_t> c(shape_.size(), 1);
    size_t budget = std::max<size_t>(1, (size_t(1) << 20) / std::max<size_t>(1, dtype_.size));
    for (size_t i = shape_.size(); i-- > 0;) {
      hsize_t want = shape_[i] > 0 ? shape_[i] : 1;
      if (maxshape_[i] == H5S_UNLIMITED && shape_[i] == 0) want = 1024;
      c[i] = std::max<hsize_t>(1, std::min<hsize_t>(want, budget));
      budget = std::max<size_t>(1, budget / c[i]);
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
  InfoCall(Napi::Env env, uint32_t handle, std::string path) : AsyncCall(env, "ph5.datasetInfo"), handle_(handle), path_(std::move(path)) {}

 protected:
  void Run() override {
    std::lock_guard<std::mutex> guard(ApiLock());
    OpenFile f = LookUp(handle_);
    Hid dset = OpenDataset(f.id, path_);
    Hid type(Check(H5Dget_type(dset), "reading the type"));
    dtype_ = DescribeType(type);
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    int rank = H5Sget_simple_extent_ndims(space);
    shape_.resize(rank > 0 ? rank : 0);
    maxshape_.resize(shape_.size());
    if (rank > 0) H5Sget_simple_extent_dims(space, shape_.data(), maxshape_.data());
    Hid dcpl(Check(H5Dget_create_plist(dset), "reading the creation list"));
    H5D_layout_t layout = H5Pget_layout(dcpl);
    layout_ = layout == H5D_CHUNKED ? "chunked" : layout == H5D_COMPACT ? "compact" : "contiguous";
    if (layout == H5D_CHUNKED) {
      chunks_.resize(shape_.size());
      H5Pget_chunk(dcpl, static_cast<int>(chunks_.size()), chunks_.data());
    }
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("dtype", FromDtype(env, dtype_));
    o.Set("shape", ToArray(env, shape_, false));
    o.Set("maxshape", ToArray(env, maxshape_, true));
    o.Set("layout", layout_);
    o.Set("chunks", layout_ == "chunked" ? Napi::Value(ToArray(env, chunks_, false)) : env.Null());
    return o;
  }

 private:
  uint32_t handle_;
  std::string path_;
  Dtype dtype_;
  std::vector<hsize_t> shape_, maxshape_, chunks_;
  std::string layout_;
};

class WriteCall : public AsyncCall {
 public:
  WriteCall(Napi::Env env, uint32_t handle, std::string path, Selection sel, Napi::Buffer<uint8_t> data, bool collective,
            const Napi::Value& memDtype)
      : AsyncCall(env, "ph5.datasetWrite"), handle_(handle), path_(std::move(path)), sel_(std::move(sel)), collective_(collective) {
    // The buffer stays referenced until the write has finished: no copy is made.
    keep_ = Napi::Persistent(data.As<Napi::Object>());
    data_ = data.Data();
    length_ = data.Length();
    if (!memDtype.IsNull() && !memDtype.IsUndefined()) {
      memDtype_ = ToDtype(env, memDtype);
      hasMemDtype_ = true;
    }
  }

 protected:
  void Run() override {
    std::lock_guard<std::mutex> guard(ApiLock());
    OpenFile f = LookUp(handle_);
    Hid dset = OpenDataset(f.id, path_);
    Hid fileType(Check(H5Dget_type(dset), "reading the type"));
    Hid memType = hasMemDtype_ ? MakeType(memDtype_) : Hid(Check(H5Tcopy(fileType), "copying the type"));
    if (hasMemDtype_ && H5Tget_size(memType) != H5Tget_size(fileType))
      Fail("PH5_ERR_TYPE", "the payload dtype has another element size than the dataset");
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    hsize_t n = SelectInFile(space, sel_, true);
    size_t itemSize = H5Tget_size(memType);
    if (static_cast<size_t>(n) * itemSize != length_)
      Fail("PH5_ERR_SELECTION", "the data has " + std::to_string(length_) + " bytes but the selection needs " +
                                    std::to_string(static_cast<size_t>(n) * itemSize));
    Hid memSpace = MemorySpace(n);
    Hid dxpl(Check(H5Pcreate(H5P_DATASET_XFER), "creating the transfer list"));
    bool useCollective = f.parallel && collective_;
    if (f.parallel) {
      // Filtered datasets can only be written collectively in HDF5 1.10.
      Hid dcpl(Check(H5Dget_create_plist(dset), "reading the creation list"));
      if (H5Pget_nfilters(dcpl) > 0) useCollective = true;
      CheckErr(H5Pset_dxpl_mpio(dxpl, useCollective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT), "choosing the transfer mode");
    }
    CheckErr(H5Dwrite(dset, memType, memSpace, space, dxpl, n > 0 ? data_ : nullptr), ("writing " + path_).c_str());
    if (useCollective) {
      H5D_mpio_actual_io_mode_t mode;
      uint32_t local = 0, global = 0;
      if (H5Pget_mpio_actual_io_mode(dxpl, &mode) >= 0) didCollective_ = mode != H5D_MPIO_NO_COLLECTIVE;
      if (H5Pget_mpio_no_collective_cause(dxpl, &local, &global) >= 0) causes_ = CauseNames(global);
      H5Eclear2(H5E_DEFAULT);
    }
  }
  Napi::Value Result(Napi::Env env) override {
    keep_.Reset();
    Napi::Object o = Napi::Object::New(env);
    o.Set("collective", didCollective_);
    Napi::Array causes = Napi::Array::New(env, causes_.size());
    for (size_t i = 0; i < causes_.size(); i++) causes.Set(static_cast<uint32_t>(i), causes_[i]);
    o.Set("noCollectiveCause", causes);
    return o;
  }

 private:
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
      : AsyncCall(env, "ph5.datasetRead"), handle_(handle), path_(std::move(path)), sel_(std::move(sel)) {}
  ~ReadCall() override { std::free(bytes_); }

 protected:
  void Run() override {
    std::lock_guard<std::mutex> guard(ApiLock());
    OpenFile f = LookUp(handle_);
    Hid dset = OpenDataset(f.id, path_);
    Hid type(Check(H5Dget_type(dset), "reading the type"));
    DescribeType(type);  // refuse types ph5 cannot name rather than return opaque bytes
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    hsize_t n = SelectInFile(space, sel_, false);
    length_ = static_cast<size_t>(n) * H5Tget_size(type);
    bytes_ = static_cast<uint8_t*>(std::malloc(length_ > 0 ? length_ : 1));
    if (!bytes_) Fail("PH5_ERR_ARGUMENT", "cannot allocate " + std::to_string(length_) + " bytes for the read");
    if (n == 0) return;
    Hid memSpace = MemorySpace(n);
    Hid dxpl(Check(H5Pcreate(H5P_DATASET_XFER), "creating the transfer list"));
    if (f.parallel) CheckErr(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_INDEPENDENT), "choosing the transfer mode");
    CheckErr(H5Dread(dset, type, memSpace, space, dxpl, bytes_), ("reading " + path_).c_str());
  }
  Napi::Value Result(Napi::Env env) override {
    // Hand the memory to a Node Buffer without copying; Node frees it.
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

template <typename Call, typename... Args>
Napi::Value Start(Napi::Env env, Args&&... args) {
  auto* call = new Call(env, std::forward<Args>(args)...);
  call->Queue();
  return call->Promise();
}

Napi::Value FileOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ToString(env, info[0], "path");
  std::string mode = ToString(env, info[1], "mode");
  if (mode != "r" && mode != "rw" && mode != "create") ThrowArgument(env, "mode must be 'r', 'rw' or 'create'");
  return Start<OpenCall>(env, path, mode, info[2].ToBoolean().Value());
}

Napi::Value FileClose(const Napi::CallbackInfo& info) { return Start<CloseCall>(info.Env(), HandleArg(info), false); }
Napi::Value FileFlush(const Napi::CallbackInfo& info) { return Start<CloseCall>(info.Env(), HandleArg(info), true); }

Napi::Value ObjectCount(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> guard(ApiLock());
  return Napi::Number::New(info.Env(), static_cast<double>(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL)));
}

Napi::Value DatasetCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[2].IsObject()) ThrowArgument(env, "dataset options must be an object");
  return Start<CreateDatasetCall>(env, HandleArg(info), ToString(env, info[1], "path"), info[2].As<Napi::Object>());
}

Napi::Value DatasetInfo(const Napi::CallbackInfo& info) {
  return Start<InfoCall>(info.Env(), HandleArg(info), ToString(info.Env(), info[1], "path"));
}

Napi::Value DatasetWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[3].IsBuffer()) ThrowArgument(env, "data must be a Buffer");
  return Start<WriteCall>(env, HandleArg(info), ToString(env, info[1], "path"), ToSelection(env, info[2]), info[3].As<Napi::Buffer<uint8_t>>(),
                          info[4].ToBoolean().Value(), info[5]);
}

Napi::Value DatasetRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Start<ReadCall>(env, HandleArg(info), ToString(env, info[1], "path"), ToSelection(env, info[2]));
}

}  // namespace

void InitH5(Napi::Env env, Napi::Object exports) {
  exports.Set("fileOpen", Napi::Function::New(env, FileOpen));
  exports.Set("fileClose", Napi::Function::New(env, FileClose));
  exports.Set("fileFlush", Napi::Function::New(env, FileFlush));
  exports.Set("openObjectCount", Napi::Function::New(env, ObjectCount));
  exports.Set("datasetCreate", Napi::Function::New(env, DatasetCreate));
  exports.Set("datasetInfo", Napi::Function::New(env, DatasetInfo));
  exports.Set("datasetWrite", Napi::Function::New(env, DatasetWrite));
  exports.Set("datasetRead", Napi::Function::New(env, DatasetRead));
}

}  // namespace ph5
