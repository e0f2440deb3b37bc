// Datasets: create (chunks, gzip, shuffle, fill value), resize, metadata, collective
// hyperslab writes straight from Node buffers, reads straight into them.
//
// On a parallel (mpio) file every call is collective: all ranks make the same calls in
// the same order.
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>

#include "dtype.h"
#include "h5_common.h"

namespace ph5 {

namespace {

// ---------------------------------------------------------------------------------------
// Selections
struct Selection {
  bool present = false;
  std::vector<hsize_t> start, stride, count;
  // Further hyperslabs joined to this one (a union; writes only): they must not overlap,
  // and the data is the union's elements in the file's C order.
  std::vector<Selection> more;
  // A point selection (H5Sselect_elements) instead of a hyperslab: the coordinates of each
  // point, one after the other (the dataset's rank of them per point). The data is the
  // points' elements in the order of the list. No points selects nothing (a rank without
  // work in a collective write).
  bool isPoints = false;
  std::vector<hsize_t> points;
};

// `{ points: Buffer }`: the coordinates as unsigned 64-bit integers in the machine's byte
// order (little-endian on every platform ph5 runs on), point after point.
Selection ToPointSelection(Napi::Env env, const Napi::Value& points) {
  if (!points.IsBuffer()) ThrowArgument(env, "selection.points must be a Buffer of uint64 coordinates");
  auto b = points.As<Napi::Buffer<uint8_t>>();
  if (b.Length() % sizeof(uint64_t) != 0) ThrowArgument(env, "selection.points must hold whole uint64 coordinates (a multiple of 8 bytes)");
  Selection s;
  s.present = true;
  s.isPoints = true;
  s.points.resize(b.Length() / sizeof(uint64_t));
  if (!s.points.empty()) std::memcpy(s.points.data(), b.Data(), b.Length());
  return s;
}

Selection ToSelection(Napi::Env env, const Napi::Value& v, bool allowUnion = false) {
  Selection s;
  if (v.IsNull() || v.IsUndefined()) return s;
  if (v.IsObject() && !v.IsArray() && v.As<Napi::Object>().Has("points")) return ToPointSelection(env, v.As<Napi::Object>().Get("points"));
  if (allowUnion && v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    if (a.Length() == 0) ThrowArgument(env, "a selection union needs at least one hyperslab");
    s = ToSelection(env, a.Get(0u));
    for (uint32_t i = 1; i < a.Length(); i++) {
      s.more.push_back(ToSelection(env, a.Get(i)));
      if (s.more.back().count.size() != s.count.size()) ThrowArgument(env, "the hyperslabs of a union must have the same rank");
    }
    return s;
  }
  if (!v.IsObject() || v.IsArray()) ThrowArgument(env, "selection must be {start, stride, count} or null");
  Napi::Object o = v.As<Napi::Object>();
  s.present = true;
  s.start = ToDims(env, o.Get("start"), "selection.start", false);
  s.count = ToDims(env, o.Get("count"), "selection.count", false);
  Napi::Value stride = o.Get("stride");
  s.stride =
      stride.IsUndefined() || stride.IsNull() ? std::vector<hsize_t>(s.count.size(), 1) : ToDims(env, stride, "selection.stride", false);
  if (s.start.size() != s.count.size() || s.stride.size() != s.count.size())
    ThrowArgument(env, "selection.start, stride and count must have the same length");
  for (size_t i = 0; i < s.stride.size(); i++)
    if (s.stride[i] == 0) ThrowArgument(env, "selection.stride[" + std::to_string(i) + "] must be at least 1");
  return s;
}

// Applies `sel` to the dataset's file space, checked against the extent first so that a
// bad selection is a clear PH5_ERR_SELECTION rather than an HDF5 stack. An absent selection
// selects nothing (`noneWhenAbsent`, for writes) or everything (reads). Returns the count.
// Applies a point selection: every coordinate checked against the extent first.
hsize_t SelectPoints(hid_t space, const Selection& sel, const std::vector<hsize_t>& dims) {
  size_t rank = dims.size();
  if (rank == 0) Fail(code::kSelection, "a point selection needs a dataset with at least one dimension (this one is scalar)");
  if (sel.points.size() % rank != 0)
    Fail(code::kSelection, "the point coordinates (" + std::to_string(sel.points.size()) + " numbers) are not whole points of " +
                               std::to_string(rank) + " coordinates each");
  hsize_t n = sel.points.size() / rank;
  for (hsize_t p = 0; p < n; p++)
    for (size_t d = 0; d < rank; d++)
      if (sel.points[p * rank + d] >= dims[d])
        Fail(code::kSelection, "point " + std::to_string(p) + " has coordinate " + std::to_string(sel.points[p * rank + d]) +
                                   " in dimension " + std::to_string(d) + ", past the extent " + DimsText(dims));
  if (n == 0) {
    CheckErr(H5Sselect_none(space), "selecting nothing");
    return 0;
  }
  CheckErr(H5Sselect_elements(space, H5S_SELECT_SET, static_cast<size_t>(n), sel.points.data()), "selecting the points");
  return n;
}

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
  if (sel.isPoints) return SelectPoints(space, sel, dims);
  if (sel.count.size() != dims.size())
    Fail(code::kSelection, "the selection has " + std::to_string(sel.count.size()) + " dimensions, the dataset " +
                               std::to_string(dims.size()) + " (shape " + DimsText(dims) + ")");
  if (dims.empty()) {  // scalar dataset: the only selection is "everything"
    CheckErr(H5Sselect_all(space), "selecting the scalar");
    return 1;
  }
  auto size = [&](const Selection& b) {
    if (b.count.size() != dims.size())
      Fail(code::kSelection,
           "a hyperslab of the union has " + std::to_string(b.count.size()) + " dimensions, the dataset " + std::to_string(dims.size()));
    hsize_t n = 1;
    for (size_t i = 0; i < dims.size(); i++) {
      if (b.count[i] == 0) {
        n = 0;
        continue;
      }
      // start + (count-1)*stride < dim, without overflow.
      if (b.start[i] >= dims[i] || (b.count[i] - 1) > (dims[i] - 1 - b.start[i]) / b.stride[i])
        Fail(code::kSelection, "the selection start " + DimsText(b.start) + " stride " + DimsText(b.stride) + " count " +
                                   DimsText(b.count) + " reaches past the extent " + DimsText(dims) + " in dimension " + std::to_string(i));
      n *= b.count[i];
    }
    return n;
  };
  hsize_t n = 0;
  bool first = true;
  auto add = [&](const Selection& b) {
    hsize_t k = size(b);
    if (k == 0) return;
    CheckErr(H5Sselect_hyperslab(space, first ? H5S_SELECT_SET : H5S_SELECT_OR, b.start.data(), b.stride.data(), b.count.data(), nullptr),
             "selecting the hyperslab");
    first = false;
    n += k;
  };
  add(sel);
  for (const Selection& b : sel.more) add(b);
  if (n == 0) {
    CheckErr(H5Sselect_none(space), "selecting nothing");
    return 0;
  }
  if (!sel.more.empty()) {
    // Overlapping parts would be written once, with bytes meant for another element.
    hssize_t selected = H5Sget_select_npoints(space);
    if (selected < 0) FailHdf5(code::kHdf5, "counting the selection");
    if (static_cast<hsize_t>(selected) != n) Fail(code::kSelection, "the hyperslabs of the union overlap");
  }
  return n;
}

// ---------------------------------------------------------------------------------------
// Chunks a write touches. Datasets that HDF5 itself creates on a parallel file have their
// storage allocated early (at creation and on every extension), but files made serially -
// by h5py, with HDF5's defaults - allocate chunks incrementally (and contiguous storage
// late). HDF5 1.10 allocates a dataset's storage when a parallel open finds none at all,
// yet a collective write into chunks that are still missing in a partly allocated dataset
// fails (MPI_File_set_view: invalid datatype) or, with filters, leaves the ranks waiting
// for each other forever inside H5Dwrite. So before a collective write the ranks look up
// the chunks of the whole step (the same lookups on every rank: collective metadata reads)
// and refuse with PH5_ERR_NEEDS_ALLOCATION; rank 0 then allocates exactly those chunks
// serially (PrepareChunksCall, writing the fill value, which is what they read as) and the
// write is made again in parallel.

// Most chunk lookups one write may cost (each is a B-tree search).
constexpr uint64_t kMaxChunkLookups = uint64_t{1} << 22;

// Calls fn(chunk offset in elements) once for every chunk that intersects the bounding
// box of one of `boxes`, each chunk once. Throws PH5_ERR_LAYOUT past kMaxChunkLookups.
template <typename Fn>
void ForEachChunk(const std::vector<hsize_t>& dims, const std::vector<hsize_t>& chunk, const std::vector<Selection>& boxes, Fn fn) {
  size_t rank = dims.size();
  std::vector<std::vector<hsize_t>> seen;  // chunk index ranges already visited (lo, hi per dim)
  uint64_t lookups = 0;
  for (const Selection& b : boxes) {
    if (!b.present || b.count.size() != rank) continue;
    std::vector<hsize_t> lo(rank), hi(rank);
    bool empty = false;
    for (size_t d = 0; d < rank; d++) {
      if (b.count[d] == 0) empty = true;
      if (empty) break;
      hsize_t last = b.start[d] + (b.count[d] - 1) * b.stride[d];
      if (last >= dims[d]) last = dims[d] - 1;  // the selection was checked; stay safe
      lo[d] = b.start[d] / chunk[d];
      hi[d] = last / chunk[d];
    }
    if (empty) continue;
    uint64_t n = 1;
    for (size_t d = 0; d < rank; d++) n *= hi[d] - lo[d] + 1;
    lookups += n;
    if (lookups > kMaxChunkLookups)
      Fail(code::kLayout, "the write touches more than " + std::to_string(kMaxChunkLookups) +
                              " chunks of a dataset whose chunks are allocated incrementally: split it into smaller writes");
    std::vector<hsize_t> idx = lo, offset(rank);
    for (;;) {
      bool before = false;
      for (const auto& box : seen) {  // box: lo..., hi...
        bool inside = true;
        for (size_t d = 0; d < rank && inside; d++) inside = idx[d] >= box[d] && idx[d] <= box[rank + d];
        if (inside) {
          before = true;
          break;
        }
      }
      if (!before) {
        for (size_t d = 0; d < rank; d++) offset[d] = idx[d] * chunk[d];
        fn(offset);
      }
      // Next chunk index, last dimension fastest; done when every dimension wrapped.
      bool done = true;
      for (size_t d = rank; d-- > 0;) {
        if (idx[d] < hi[d]) {
          idx[d]++;
          done = false;
          break;
        }
        idx[d] = lo[d];
      }
      if (done) break;
    }
    std::vector<hsize_t> box(lo);
    box.insert(box.end(), hi.begin(), hi.end());
    seen.push_back(std::move(box));
  }
}

bool ChunkAllocated(hid_t dset, const std::vector<hsize_t>& offset) {
  hsize_t bytes = 0;
  // An unallocated chunk has no storage (size 0); older releases fail the lookup instead.
  if (H5Dget_chunk_storage_size(dset, offset.data(), &bytes) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  return bytes > 0;
}

// The hyperslabs of a (possibly union) selection, each on its own (none for points).
std::vector<Selection> Boxes(const Selection& sel) {
  std::vector<Selection> out;
  if (!sel.present || sel.isPoints) return out;
  Selection first = sel;
  first.more.clear();
  out.push_back(first);
  for (const Selection& m : sel.more) out.push_back(m);
  return out;
}

// Calls fn(chunk offset in elements) once for every chunk the selection touches: for
// hyperslabs, every chunk of their bounding boxes (ForEachChunk); for points, the chunks
// that hold a point, each once. Points outside the extent are skipped (they are refused
// when the selection is applied).
template <typename Fn>
void ForEachTouchedChunk(const std::vector<hsize_t>& dims, const std::vector<hsize_t>& chunk, const Selection& sel, Fn fn) {
  if (!sel.isPoints) {
    ForEachChunk(dims, chunk, Boxes(sel), fn);
    return;
  }
  size_t rank = dims.size();
  if (rank == 0 || sel.points.size() % rank != 0) return;
  std::set<std::vector<hsize_t>> seen;
  std::vector<hsize_t> offset(rank);
  for (size_t p = 0; p < sel.points.size(); p += rank) {
    bool inside = true;
    for (size_t d = 0; d < rank; d++) {
      if (sel.points[p + d] >= dims[d]) inside = false;
      else offset[d] = sel.points[p + d] / chunk[d] * chunk[d];
    }
    if (inside && seen.insert(offset).second) {
      if (seen.size() > kMaxChunkLookups)
        Fail(code::kLayout, "the write touches more than " + std::to_string(kMaxChunkLookups) + " chunks: split it into smaller writes");
      fn(offset);
    }
  }
}

// Chunked, not allocated early, and some chunk of `global` still missing.
bool NeedsAllocation(hid_t dset, hid_t dcpl, hid_t space, const Selection& global) {
  if (!global.present || H5Pget_layout(dcpl) != H5D_CHUNKED) return false;
  H5D_alloc_time_t alloc;
  CheckErr(H5Pget_alloc_time(dcpl, &alloc), "reading the allocation time");
  if (alloc == H5D_ALLOC_TIME_EARLY) return false;  // HDF5 allocates on creation and extension
  std::vector<hsize_t> dims = Extent(space);
  int rank = static_cast<int>(dims.size());
  std::vector<hsize_t> chunk(rank);
  if (H5Pget_chunk(dcpl, rank, chunk.data()) < 0) FailHdf5(code::kHdf5, "reading the chunk shape");
  bool missing = false;
  struct Found {};
  try {
    ForEachTouchedChunk(dims, chunk, global, [&](const std::vector<hsize_t>& offset) {
      if (!ChunkAllocated(dset, offset)) throw Found{};
    });
  } catch (const Found&) {
    missing = true;
  }
  return missing;
}

// Where the storage a write can reach ends in the file (0: nothing to cover), the same on
// every rank: contiguous storage as a whole; the allocated chunks of the step's whole
// selection of an unfiltered chunked dataset (filtered chunks are written whole, so no
// gap of theirs is left to MPI-IO). A write touching more chunks than the lookup limit
// is not covered: its gaps keep the old behaviour (see CoverAllocation).
haddr_t StorageEnd(hid_t dset, hid_t dcpl, hid_t space, const Selection& global, bool filtered) {
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_CONTIGUOUS) {
    haddr_t offset = H5Dget_offset(dset);
    if (offset == HADDR_UNDEF) {
      H5Eclear2(H5E_DEFAULT);
      return 0;
    }
    return offset + H5Dget_storage_size(dset);
  }
  if (layout != H5D_CHUNKED || filtered || !global.present) return 0;
  std::vector<hsize_t> dims = Extent(space);
  int rank = static_cast<int>(dims.size());
  std::vector<hsize_t> chunk(rank);
  if (H5Pget_chunk(dcpl, rank, chunk.data()) < 0) FailHdf5(code::kHdf5, "reading the chunk shape");
  haddr_t end = 0;
  try {
    ForEachTouchedChunk(dims, chunk, global, [&](const std::vector<hsize_t>& offset) {
      unsigned mask = 0;
      haddr_t address = HADDR_UNDEF;
      hsize_t bytes = 0;
      if (H5Dget_chunk_info_by_coord(dset, offset.data(), &mask, &address, &bytes) < 0 || address == HADDR_UNDEF) {
        H5Eclear2(H5E_DEFAULT);
        return;
      }
      end = std::max<haddr_t>(end, address + static_cast<haddr_t>(bytes));
    });
  } catch (const Failure&) {
    return 0;
  }
  return end;
}

// The memory side of a transfer: n contiguous elements (or nothing).
Hid MemorySpace(hsize_t n) {
  hsize_t dims[1] = {n > 0 ? n : 1};
  Hid space(Check(H5Screate_simple(1, dims, nullptr), "creating the memory space"));
  if (n == 0) CheckErr(H5Sselect_none(space), "selecting nothing in memory");
  return space;
}

// Bytes one element takes in the file: a variable-length string is a 16-byte reference
// into the global heap (its characters live there).
size_t StoredSize(const Dtype& d) { return d.VariableLength() ? 16 : d.size; }

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

// ---------------------------------------------------------------------------------------
class CreateDatasetCall : public FileCall {
 public:
  CreateDatasetCall(Napi::Env env, uint32_t handle, std::string path, const Napi::Object& o)
      : FileCall(env, "ph5.datasetCreate", handle), path_(std::move(path)) {
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
    Napi::Value gzip = o.Get("gzip");
    if (!gzip.IsUndefined() && !gzip.IsNull()) {
      if (!gzip.IsNumber()) ThrowArgument(env, "gzip must be a compression level 0..9");
      double level = gzip.As<Napi::Number>().DoubleValue();
      if (!(level >= 0 && level <= 9) || level != static_cast<double>(static_cast<int>(level)))
        ThrowArgument(env, "gzip must be a compression level 0..9");
      gzip_ = static_cast<int>(level);
    }
    Napi::Value shuffle = o.Get("shuffle");
    if (!shuffle.IsUndefined() && !shuffle.IsNull()) shuffle_ = ToBool(env, shuffle, "shuffle");
    bool filtered = gzip_ >= 0 || shuffle_;
    if (filtered && shape_.empty()) ThrowArgument(env, "a scalar dataset cannot be compressed or shuffled");
    if (unlimited && shape_.empty()) ThrowArgument(env, "a scalar dataset cannot be unlimited");

    Napi::Value chunks = o.Get("chunks");
    if (!chunks.IsUndefined() && !chunks.IsNull()) {
      chunks_ = ToDims(env, chunks, "chunks", false);
      if (chunks_.size() != shape_.size()) ThrowArgument(env, "chunks must have as many dimensions as shape");
      if (shape_.empty()) ThrowArgument(env, "a scalar dataset cannot be chunked");
      double bytes = static_cast<double>(StoredSize(dtype_));
      for (size_t i = 0; i < chunks_.size(); i++) {
        if (chunks_[i] == 0) ThrowArgument(env, "chunk dimensions must be at least 1");
        if (maxshape_[i] != H5S_UNLIMITED && chunks_[i] > maxshape_[i])
          ThrowArgument(env, "chunks must not be larger than maxshape in a fixed-size dimension");
        bytes *= static_cast<double>(chunks_[i]);
      }
      if (bytes >= 4294967296.0) ThrowArgument(env, "a chunk must be smaller than 4 GiB");
    } else if (unlimited || filtered) {
      // HDF5 needs chunks for both.
      chunks_ = DefaultChunks();
    }
    Napi::Value fill = o.Get("fillValue");
    if (!fill.IsUndefined() && !fill.IsNull()) {
      if (dtype_.VariableLength())
        ThrowArgument(env, "a fillValue for a variable-length string dataset is not supported (its fill is the empty string)");
      if (!fill.IsBuffer()) ThrowArgument(env, "fillValue must be a Buffer holding one element");
      auto b = fill.As<Napi::Buffer<uint8_t>>();
      if (b.Length() != dtype_.size)
        ThrowArgument(env, "fillValue must be exactly one element (" + std::to_string(dtype_.size) + " bytes) of the dtype");
      fill_.assign(b.Data(), b.Data() + b.Length());
      hasFill_ = true;
    }
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "create dataset " + path_);
    if (PathExists(f.id, path_)) Fail(code::kExists, "an object already exists at " + path_);
    CheckParents(f.id, path_);
    Hid type = MakeType(dtype_);
    Hid space(shape_.empty()
                  ? Check(H5Screate(H5S_SCALAR), "creating a scalar dataspace")
                  : Check(H5Screate_simple(static_cast<int>(shape_.size()), shape_.data(), maxshape_.data()), "creating the dataspace"));
    Hid dcpl(Check(H5Pcreate(H5P_DATASET_CREATE), "creating the dataset creation list"));
    if (!chunks_.empty()) CheckErr(H5Pset_chunk(dcpl, static_cast<int>(chunks_.size()), chunks_.data()), "setting the chunk shape");
    // Shuffle before deflate, as h5py orders them: shuffled bytes compress better.
    if (shuffle_) {
      if (H5Zfilter_avail(H5Z_FILTER_SHUFFLE) <= 0) Fail(code::kHdf5, "the shuffle filter is not available in this HDF5");
      CheckErr(H5Pset_shuffle(dcpl), "adding the shuffle filter");
    }
    if (gzip_ >= 0) {
      if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) Fail(code::kHdf5, "the gzip (deflate) filter is not available in this HDF5");
      CheckErr(H5Pset_deflate(dcpl, static_cast<unsigned>(gzip_)), "adding the gzip filter");
    }
    if (hasFill_) {
      CheckErr(H5Pset_fill_value(dcpl, type, fill_.data()), "setting the fill value");
    } else if (!dtype_.VariableLength()) {
      // Parallel HDF5 allocates the whole dataset at creation and would write the fill
      // value over all of it: up to twice the cost of the write that follows. (HDF5 refuses
      // NEVER for variable-length data: those keep the default, which writes nothing either
      // while no fill value is set.)
      CheckErr(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "disabling the fill pass");
    }
    Hid lcpl = IntermediateGroupsLcpl();
    Hid dset(Check(H5Dcreate2(f.id, path_.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), "creating dataset " + path_));
  }

 private:
  // About 1 MiB per chunk, filled from the last (fastest) dimension: a fixed dimension
  // contributes at most its size, an unlimited one whatever the budget still allows.
  // 1 MiB is h5py's upper bound for its guessed chunks; ph5 aims at it because parallel
  // writes are large and every chunk costs an index entry and (compressed) one
  // collective exchange.
  std::vector<hsize_t> DefaultChunks() const {
    std::vector<hsize_t> c(shape_.size(), 1);
    hsize_t budget = std::max<hsize_t>(1, (hsize_t(1) << 20) / std::max<size_t>(1, StoredSize(dtype_)));
    for (size_t i = shape_.size(); i-- > 0;) {
      hsize_t limit = maxshape_[i] == H5S_UNLIMITED ? budget : std::max<hsize_t>(1, maxshape_[i]);
      c[i] = std::max<hsize_t>(1, std::min(limit, budget));
      budget = std::max<hsize_t>(1, budget / c[i]);
    }
    return c;
  }

  std::string path_;
  Dtype dtype_;
  std::vector<hsize_t> shape_, maxshape_, chunks_;
  int gzip_ = -1;
  bool shuffle_ = false;
  std::vector<uint8_t> fill_;
  bool hasFill_ = false;
};

// ---------------------------------------------------------------------------------------
class ResizeCall : public FileCall {
 public:
  ResizeCall(Napi::Env env, uint32_t handle, std::string path, std::vector<hsize_t> shape)
      : FileCall(env, "ph5.datasetResize", handle), path_(std::move(path)), shape_(std::move(shape)) {
    CheckPath(env, path_);
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "resize " + path_);
    if (f.parallel) AgreeOnShape();
    Hid dset = OpenDataset(f.id, path_);
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0) FailHdf5(code::kHdf5, "reading the dataspace rank");
    std::vector<hsize_t> dims(rank), maxdims(rank);
    if (rank > 0) CheckErr(H5Sget_simple_extent_dims(space, dims.data(), maxdims.data()), "reading the dataspace extent");
    if (static_cast<size_t>(rank) != shape_.size())
      Fail(code::kArgument, "the new shape " + DimsText(shape_) + " has " + std::to_string(shape_.size()) + " dimensions, " + path_ +
                                " has " + std::to_string(rank));
    for (int i = 0; i < rank; i++)
      if (maxdims[i] != H5S_UNLIMITED && shape_[i] > maxdims[i])
        Fail(code::kArgument, "the new shape " + DimsText(shape_) + " exceeds the maxshape " + DimsText(maxdims) + " of " + path_);
    if (shape_ == dims) return;
    Hid dcpl(Check(H5Dget_create_plist(dset), "reading the creation list"));
    if (H5Pget_layout(dcpl) != H5D_CHUNKED) Fail(code::kType, path_ + " is not chunked: only chunked datasets can be resized");
    CheckErr(H5Dset_extent(dset, shape_.data()), "resizing " + path_);
  }

 private:
  // H5Dset_extent changes metadata collectively: ranks asking for different shapes would
  // leave the file inconsistent. Max and min over the ranks (min as max of the complement)
  // must agree, first of the rank count, then of each dimension.
  void AgreeOnShape() {
    auto agree = [](std::vector<uint64_t> values) {
      size_t n = values.size();
      for (size_t i = 0; i < n; i++) values.push_back(UINT64_MAX - values[i]);
      std::vector<uint64_t> out(values.size());
      MpiCheck(MPI_Allreduce(values.data(), out.data(), static_cast<int>(values.size()), MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD),
               "MPI_Allreduce (agreeing on the shape)");
      for (size_t i = 0; i < n; i++)
        if (out[i] != UINT64_MAX - out[n + i]) return false;
      return true;
    };
    std::string why = "every rank must resize " + path_ + " to the same shape (this rank asked for " + DimsText(shape_) + ")";
    if (!agree({shape_.size()})) Fail(code::kArgument, why);
    if (!agree(std::vector<uint64_t>(shape_.begin(), shape_.end()))) Fail(code::kArgument, why);
  }

  std::string path_;
  std::vector<hsize_t> shape_;
};

// ---------------------------------------------------------------------------------------
struct FilterInfo {
  int id;
  std::string name;
  int level = -1;  // gzip only
};

class InfoCall : public FileCall {
 public:
  InfoCall(Napi::Env env, uint32_t handle, std::string path) : FileCall(env, "ph5.datasetInfo", handle), path_(std::move(path)) {
    CheckPath(env, path_);
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
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
    layout_ = layout == H5D_CHUNKED ? "chunked" : layout == H5D_COMPACT ? "compact" : layout == H5D_VIRTUAL ? "virtual" : "contiguous";
    if (layout == H5D_CHUNKED) {
      chunks_.resize(rank);
      if (H5Pget_chunk(dcpl, rank, chunks_.data()) < 0) FailHdf5(code::kHdf5, "reading the chunk shape");
    }
    ReadFilters(dcpl);
    H5D_fill_value_t fillState;
    CheckErr(H5Pfill_value_defined(dcpl, &fillState), "reading the fill value state");
    if (fillState == H5D_FILL_VALUE_USER_DEFINED && !dtype_.VariableLength()) {
      // The fill value in the dataset's own type (the stored one, converted by HDF5).
      fill_.resize(H5Tget_size(type));
      CheckErr(H5Pget_fill_value(dcpl, type, fill_.data()), "reading the fill value");
      hasFill_ = true;
    }
    H5D_fill_time_t fillTime;
    CheckErr(H5Pget_fill_time(dcpl, &fillTime), "reading the fill time");
    fillTime_ = fillTime == H5D_FILL_TIME_NEVER ? "never" : fillTime == H5D_FILL_TIME_ALLOC ? "alloc" : "ifset";
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("dtype", FromDtype(env, dtype_));
    o.Set("shape", ToArray(env, shape_));
    o.Set("maxshape", ToArray(env, maxshape_));
    o.Set("layout", layout_);
    o.Set("chunks", layout_ == "chunked" ? Napi::Value(ToArray(env, chunks_)) : env.Null());
    Napi::Array filters = Napi::Array::New(env, filters_.size());
    for (size_t i = 0; i < filters_.size(); i++) {
      Napi::Object fi = Napi::Object::New(env);
      fi.Set("id", filters_[i].id);
      fi.Set("name", filters_[i].name);
      if (filters_[i].level >= 0) fi.Set("level", filters_[i].level);
      filters.Set(static_cast<uint32_t>(i), fi);
    }
    o.Set("filters", filters);
    o.Set("fillValue", hasFill_ ? Napi::Value(Napi::Buffer<uint8_t>::Copy(env, fill_.data(), fill_.size())) : env.Null());
    o.Set("fillTime", fillTime_);
    return o;
  }

 private:
  void ReadFilters(hid_t dcpl) {
    int n = H5Pget_nfilters(dcpl);
    if (n < 0) FailHdf5(code::kHdf5, "counting the filters");
    for (int i = 0; i < n; i++) {
      unsigned flags = 0, config = 0;
      unsigned values[8] = {0};
      size_t nvalues = 8;
      char name[64] = "";
      H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nvalues, values, sizeof name, name, &config);
      if (id < 0) FailHdf5(code::kHdf5, "reading filter " + std::to_string(i));
      FilterInfo fi{static_cast<int>(id), name};
      if (id == H5Z_FILTER_DEFLATE) {
        fi.name = "gzip";
        fi.level = nvalues > 0 ? static_cast<int>(values[0]) : -1;
      } else if (id == H5Z_FILTER_SHUFFLE) {
        fi.name = "shuffle";
      } else if (id == H5Z_FILTER_FLETCHER32) {
        fi.name = "fletcher32";
      } else if (id == H5Z_FILTER_SZIP) {
        fi.name = "szip";
      } else if (id == H5Z_FILTER_NBIT) {
        fi.name = "nbit";
      } else if (id == H5Z_FILTER_SCALEOFFSET) {
        fi.name = "scaleoffset";
      } else if (fi.name.empty()) {
        fi.name = "filter-" + std::to_string(id);
      }
      filters_.push_back(fi);
    }
  }

  std::string path_;
  Dtype dtype_;
  std::vector<hsize_t> shape_, maxshape_, chunks_;
  std::string layout_;
  std::vector<FilterInfo> filters_;
  std::vector<uint8_t> fill_;
  bool hasFill_ = false;
  std::string fillTime_;
};

// Whether one hyperslab selects a single contiguous run of the C-order array `dims`: past
// the first dimension with more than one element selected, every dimension is whole.
bool ContiguousRun(const Selection& sel, const std::vector<hsize_t>& dims) {
  if (!sel.present || sel.isPoints || !sel.more.empty() || sel.count.size() != dims.size()) return false;
  bool spread = false;
  for (size_t d = 0; d < dims.size(); d++) {
    if (spread) {
      if (sel.start[d] != 0 || sel.count[d] != dims[d] || (sel.count[d] > 1 && sel.stride[d] != 1)) return false;
    } else if (sel.count[d] > 1) {
      if (sel.stride[d] != 1) return false;
      spread = true;
    }
  }
  return true;
}

// How a parallel write moves its raw data.
enum class Transfer {
  kIndependent,
  kCollective,
  // Independent where every rank's part is one contiguous run of allocated contiguous
  // storage (each rank then makes one plain write of its own bytes; the two-phase
  // exchange of collective I/O only copies them between ranks first), collective otherwise.
  kAuto,
};

// ---------------------------------------------------------------------------------------
class WriteCall : public FileCall {
 public:
  WriteCall(Napi::Env env, uint32_t handle, std::string path, Selection sel, Napi::Buffer<uint8_t> data, Transfer transfer,
            const Napi::Value& memDtype, Selection global)
      : FileCall(env, "ph5.datasetWrite", handle),
        path_(std::move(path)),
        sel_(std::move(sel)),
        global_(std::move(global)),
        transfer_(transfer) {
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
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "write " + path_);
    Hid dset = OpenDataset(f.id, path_);  // collective metadata: same outcome on every rank
    Hid fileType(Check(H5Dget_type(dset), "reading the type"));
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    Hid dcpl(Check(H5Dget_create_plist(dset), "reading the creation list"));
    int nfilters = H5Pget_nfilters(dcpl);
    if (nfilters < 0) FailHdf5(code::kHdf5, "counting the filters");
    bool filtered = nfilters > 0;
    bool independentRaw = false;
    if (f.parallel) {
      // Decided from the file's metadata alone, so every rank decides the same; the
      // transfer mode from the step's whole selection too (ranks in different transfer
      // modes would hang in H5Dwrite).
      H5D_layout_t layout = H5Pget_layout(dcpl);
      if (transfer_ == Transfer::kAuto && !filtered && layout == H5D_CONTIGUOUS && ContiguousRun(global_, Extent(space))) {
        // Allocated storage only: allocating it is a collective metadata change.
        independentRaw = H5Dget_offset(dset) != HADDR_UNDEF;
        H5Eclear2(H5E_DEFAULT);
      }
      if (layout == H5D_COMPACT)
        // Compact data lives in the object header: each rank's write would replace the
        // others' (HDF5 1.10 keeps one rank's header), silently losing data.
        Fail(code::kLayout,
             path_ +
                 " has a compact layout, which parallel HDF5 cannot write from several ranks; copy it to a contiguous or chunked dataset");
      if (layout == H5D_VIRTUAL) Fail(code::kLayout, path_ + " is a virtual dataset, which parallel HDF5 1.10 cannot write");
      // H5Dwrite on an mpio file refuses variable-length data in every mode ("Parallel IO
      // does not support writing VL ... datatypes yet", HDF5 1.10.8): the strings go to the
      // global heap, which parallel HDF5 cannot allocate from several ranks. Refused here, on
      // every rank alike (from the file's metadata), before anyone enters H5Dwrite.
      // (Variable-length sequences have no ph5 dtype: the write below refuses them, PH5_ERR_TYPE.)
      if (H5Tis_variable_str(fileType) > 0)
        Fail(code::kNeedsSerial,
             path_ + " holds variable-length strings, which parallel HDF5 1.10 cannot write: write them through a serial open of the file");
      H5Eclear2(H5E_DEFAULT);
      if (NeedsAllocation(dset, dcpl, space, global_))
        Fail(code::kNeedsAllocation, "the write into " + path_ + " touches chunks that are not allocated yet");
    }
    Hid memType;
    hsize_t n = 0;
    // Checks that can differ between ranks. On a parallel file the ranks agree on the
    // outcome before anyone enters H5Dwrite: one rank refusing must not leave the others
    // waiting in a collective write forever.
    Failure local;
    try {
      Dtype fileDtype = DescribeType(fileType);
      if (fileDtype.VariableLength() && !hasMemDtype_)
        Fail(code::kType,
             path_ + " holds variable-length strings: write them as fixed-width bytes slots (memDtype {kind: 'bytes', size: W})");
      size_t itemSize = H5Tget_size(fileType);
      if (hasMemDtype_) {
        std::string why = WriteMismatch(memDtype_, fileDtype);
        if (!why.empty()) Fail(code::kType, why);
        memType = MemoryType(memDtype_, fileDtype);
        itemSize = memDtype_.size;
        strings_ = fileDtype.VariableLength();
      } else {
        memType = Hid(Check(H5Tcopy(fileType), "copying the type"));
      }
      n = SelectInFile(space, sel_, true);
      size_t need = ByteCount(n, itemSize);
      if (need != length_)
        Fail(code::kSelection, "the data has " + std::to_string(length_) + " bytes but the selection of " + std::to_string(n) +
                                   " elements needs " + std::to_string(need));
    } catch (const Failure& failure) {
      local = failure;
    }
    if (f.parallel) AgreeOnFailure(local, "this collective write of " + path_);
    else if (!local.code.empty()) throw local;

    const uint8_t* source = data_;
    std::vector<uint8_t> converted;
    // Fixed-width slots into variable-length strings: HDF5 1.10 converts neither way between
    // fixed and variable-length strings, so each slot becomes a NUL-terminated C string (cut
    // at its first NUL) and HDF5 gets an array of pointers in the file's character set.
    std::vector<char> characters;
    std::vector<const char*> pointers;
    if (strings_ && n > 0) {
      size_t width = memDtype_.size;
      characters.resize(ByteCount(n, width + 1));
      pointers.resize(n);
      for (hsize_t i = 0; i < n; i++) {
        char* slot = characters.data() + i * (width + 1);
        std::memcpy(slot, data_ + i * width, width);
        slot[width] = '\0';
        pointers[i] = slot;
      }
      source = reinterpret_cast<const uint8_t*>(pointers.data());
    }
    if (f.parallel && filtered && !strings_) {
      // HDF5 1.10 writes filtered datasets only collectively, and falls back to
      // independent I/O whenever it converts types: convert here, so HDF5 does not have to.
      // A rank with nothing to write still switches to the file type: the fallback is
      // decided over all ranks, and its (empty) conversion would count too.
      htri_t same = H5Tequal(memType, fileType);
      if (same < 0) FailHdf5(code::kHdf5, "comparing the memory and file types");
      if (!same) {
        if (n > 0) {
          size_t item = std::max(H5Tget_size(memType), H5Tget_size(fileType));
          converted.resize(ByteCount(n, item));
          std::memcpy(converted.data(), data_, length_);
          // Compound conversions need a background buffer (fields are converted by name).
          std::vector<uint8_t> background(H5Tget_class(fileType) == H5T_COMPOUND ? ByteCount(n, H5Tget_size(fileType)) : 0);
          int64_t ids = DatatypeIds();
          herr_t err = H5Tconvert(memType, fileType, n, converted.data(), background.empty() ? nullptr : background.data(), H5P_DEFAULT);
          AdoptDatatypeIds(ids);
          CheckErr(err, "converting the data to the file type");
          source = converted.data();
        }
        memType = Hid(Check(H5Tcopy(fileType), "copying the type"));
      }
    }

    Hid memSpace = MemorySpace(n);
    Hid dxpl(Check(H5Pcreate(H5P_DATASET_XFER), "creating the transfer list"));
    if (f.parallel) {
      CoverAllocation(f, StorageEnd(dset, dcpl, space, global_, filtered));
      // Filtered datasets can only be written collectively in HDF5 1.10; every rank is in
      // this call anyway (all calls on a parallel file are), so collective is always possible.
      bool useCollective = filtered || transfer_ == Transfer::kCollective || (transfer_ == Transfer::kAuto && !independentRaw);
      CheckErr(H5Pset_dxpl_mpio(dxpl, useCollective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT), "choosing the transfer mode");
    }
    int64_t ids = DatatypeIds();
    herr_t written = H5Dwrite(dset, memType, memSpace, space, dxpl, n > 0 ? source : nullptr);
    AdoptDatatypeIds(ids);
    CheckErr(written, "writing " + path_);
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
  std::string path_;
  Selection sel_;
  // The whole step's selection (every rank's part): what the chunk check looks at.
  Selection global_;
  Transfer transfer_;
  Napi::ObjectReference keep_;
  const uint8_t* data_ = nullptr;
  size_t length_ = 0;
  Dtype memDtype_;
  bool hasMemDtype_ = false;
  bool strings_ = false;  // bytes slots into a variable-length string dataset
  bool didCollective_ = false;
  std::vector<std::string> causes_;
};

// Reads a selection as raw bytes in the dataset's own type, into the caller's Buffer
// (exactly the selection's size) or into memory allocated once and handed to a new Buffer.
class ReadCall : public FileCall {
 public:
  ReadCall(Napi::Env env, uint32_t handle, std::string path, Selection sel, const Napi::Value& into)
      : FileCall(env, "ph5.datasetRead", handle), path_(std::move(path)), sel_(std::move(sel)) {
    CheckPath(env, path_);
    if (!into.IsUndefined() && !into.IsNull()) {
      if (!into.IsBuffer()) ThrowArgument(env, "into must be a Buffer");
      auto b = into.As<Napi::Buffer<uint8_t>>();
      keep_ = Napi::Persistent(b.As<Napi::Object>());  // HDF5 writes into it in place
      into_ = b.Data();
      intoLength_ = b.Length();
    }
  }
  ~ReadCall() override { std::free(bytes_); }

 protected:
  void RunOnFile(const OpenFile& f) override {
    Hid dset = OpenDataset(f.id, path_);
    Hid type(Check(H5Dget_type(dset), "reading the type"));
    // Refuse types ph5 cannot name rather than return opaque bytes.
    if (DescribeType(type).VariableLength())
      Fail(code::kType, path_ + " holds variable-length strings: read them with readStrings (datasetReadStrings)");
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    hsize_t n = SelectInFile(space, sel_, false);
    length_ = ByteCount(n, H5Tget_size(type));
    uint8_t* target;
    if (!keep_.IsEmpty()) {
      if (intoLength_ != length_)
        Fail(code::kSelection, "the buffer has " + std::to_string(intoLength_) + " bytes but the selection of " + std::to_string(n) +
                                   " elements holds " + std::to_string(length_));
      target = into_;
    } else {
      bytes_ = static_cast<uint8_t*>(std::malloc(length_ > 0 ? length_ : 1));
      if (!bytes_) Fail(code::kArgument, "cannot allocate " + std::to_string(length_) + " bytes for the read");
      target = bytes_;
    }
    if (n == 0) return;
    Hid memSpace = MemorySpace(n);
    Hid dxpl(Check(H5Pcreate(H5P_DATASET_XFER), "creating the transfer list"));
    if (f.parallel) CheckErr(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_INDEPENDENT), "choosing the transfer mode");
    CheckErr(H5Dread(dset, type, memSpace, space, dxpl, target), "reading " + path_);
  }
  Napi::Value Result(Napi::Env env) override {
    if (!keep_.IsEmpty()) return keep_.Value();
    // HDF5 read straight into this memory; the Buffer takes it over and Node frees it.
    uint8_t* bytes = bytes_;
    bytes_ = nullptr;
    return Napi::Buffer<uint8_t>::New(env, bytes, length_, [](Napi::Env, uint8_t* p) { std::free(p); });
  }

 private:
  std::string path_;
  Selection sel_;
  Napi::ObjectReference keep_;
  uint8_t* into_ = nullptr;
  size_t intoLength_ = 0;
  uint8_t* bytes_ = nullptr;
  size_t length_ = 0;
};

// Reads a selection of a variable-length string dataset as strings (in C order). HDF5
// allocates each string; they are copied and handed back to HDF5 (H5Dvlen_reclaim) before
// the call returns, so JS only ever sees std::strings.
class ReadStringsCall : public FileCall {
 public:
  ReadStringsCall(Napi::Env env, uint32_t handle, std::string path, Selection sel)
      : FileCall(env, "ph5.datasetReadStrings", handle), path_(std::move(path)), sel_(std::move(sel)) {
    CheckPath(env, path_);
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    Hid dset = OpenDataset(f.id, path_);
    Hid type(Check(H5Dget_type(dset), "reading the type"));
    Dtype d = DescribeType(type);
    if (!d.VariableLength())
      Fail(code::kType, path_ + " holds " + d.Name() + ", not variable-length strings: read it with read (datasetRead)");
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    hsize_t n = SelectInFile(space, sel_, false);
    if (n == 0) return;
    ByteCount(n, sizeof(char*) + sizeof(std::string));  // refuses what cannot be held
    Hid memType = MakeType(d);
    Hid memSpace = MemorySpace(n);
    Hid dxpl(Check(H5Pcreate(H5P_DATASET_XFER), "creating the transfer list"));
    if (f.parallel) CheckErr(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_INDEPENDENT), "choosing the transfer mode");
    std::vector<char*> pointers(n, nullptr);
    CheckErr(H5Dread(dset, memType, memSpace, space, dxpl, pointers.data()), "reading " + path_);
    strings_.reserve(n);
    for (char* p : pointers) strings_.emplace_back(p ? p : "");
    CheckErr(H5Dvlen_reclaim(memType, memSpace, H5P_DEFAULT, pointers.data()), "releasing the strings HDF5 read");
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array a = Napi::Array::New(env, strings_.size());
    for (size_t i = 0; i < strings_.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::String::New(env, strings_[i]));
    return a;
  }

 private:
  std::string path_;
  Selection sel_;
  std::vector<std::string> strings_;
};

// ---------------------------------------------------------------------------------------
// Allocates the missing chunks of `global` on a serial file by writing the fill value into
// them (what an unallocated chunk reads as, so nothing visible changes). HDF5 allocates a
// chunk, filtered or not, when it is written; the serial library does that one process at a
// time, which parallel HDF5 1.10 cannot do inside a collective write. Answers how many
// chunks it allocated.
class PrepareChunksCall : public FileCall {
 public:
  PrepareChunksCall(Napi::Env env, uint32_t handle, std::string path, Selection global)
      : FileCall(env, "ph5.datasetPrepareChunks", handle), path_(std::move(path)), global_(std::move(global)) {
    CheckPath(env, path_);
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "allocate chunks of " + path_);
    if (f.parallel) Fail(code::kArgument, "chunks are prepared on a file opened serially (parallel: false)");
    Hid dset = OpenDataset(f.id, path_);
    Hid dcpl(Check(H5Dget_create_plist(dset), "reading the creation list"));
    if (H5Pget_layout(dcpl) != H5D_CHUNKED) return;
    Hid type(Check(H5Dget_type(dset), "reading the type"));
    Hid space(Check(H5Dget_space(dset), "reading the dataspace"));
    std::vector<hsize_t> dims = Extent(space);
    int rank = static_cast<int>(dims.size());
    std::vector<hsize_t> chunk(rank);
    if (H5Pget_chunk(dcpl, rank, chunk.data()) < 0) FailHdf5(code::kHdf5, "reading the chunk shape");
    size_t item = H5Tget_size(type);
    std::vector<uint8_t> fill(item, 0);
    H5D_fill_value_t state;
    CheckErr(H5Pfill_value_defined(dcpl, &state), "reading the fill value state");
    // Variable-length strings: zeros are null pointers, written as empty strings (their fill).
    if (state != H5D_FILL_VALUE_UNDEFINED && H5Tis_variable_str(type) <= 0)
      CheckErr(H5Pget_fill_value(dcpl, type, fill.data()), "reading the fill value");
    H5Eclear2(H5E_DEFAULT);

    // Missing chunks go out in batches: one H5Dwrite of a union of chunk regions, at most
    // kBatchElements elements of fill in memory at a time.
    constexpr hsize_t kBatchElements = hsize_t{1} << 21;
    std::vector<uint8_t> buffer;
    hsize_t pending = 0;
    auto flush = [&]() {
      if (pending == 0) return;
      if (buffer.size() < pending * item) {
        buffer.resize(pending * item);
        for (hsize_t i = 0; i < pending; i++) std::memcpy(buffer.data() + i * item, fill.data(), item);
      }
      Hid mem = MemorySpace(pending);
      CheckErr(H5Dwrite(dset, type, mem, space, H5P_DEFAULT, buffer.data()), "allocating chunks of " + path_);
      pending = 0;
      CheckErr(H5Sselect_none(space), "selecting nothing");
    };
    CheckErr(H5Sselect_none(space), "selecting nothing");
    std::vector<hsize_t> count(rank);
    ForEachTouchedChunk(dims, chunk, global_, [&](const std::vector<hsize_t>& offset) {
      if (ChunkAllocated(dset, offset)) return;
      hsize_t n = 1;
      for (int d = 0; d < rank; d++) {
        count[d] = std::min(chunk[d], dims[d] - offset[d]);
        n *= count[d];
      }
      CheckErr(H5Sselect_hyperslab(space, pending == 0 ? H5S_SELECT_SET : H5S_SELECT_OR, offset.data(), nullptr, count.data(), nullptr),
               "selecting a chunk");
      pending += n;
      allocated_++;
      if (pending >= kBatchElements) flush();
    });
    flush();
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, static_cast<double>(allocated_)); }

 private:
  std::string path_;
  Selection global_;
  uint64_t allocated_ = 0;
};

// ---------------------------------------------------------------------------------------
Napi::Value DatasetCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  if (!info[2].IsObject()) ThrowArgument(env, "dataset options must be an object");
  return (new CreateDatasetCall(env, handle, path, info[2].As<Napi::Object>()))->Start();
}

Napi::Value DatasetResize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  return (new ResizeCall(env, handle, path, ToDims(env, info[2], "shape", false)))->Start();
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
  Selection sel = ToSelection(env, info[2], true);
  if (!info[3].IsBuffer()) ThrowArgument(env, "data must be a Buffer");
  Transfer transfer = info[4].IsString() && info[4].As<Napi::String>().Utf8Value() == "auto" ? Transfer::kAuto
                      : ToBool(env, info[4], "collective (true, false or 'auto')")           ? Transfer::kCollective
                                                                                             : Transfer::kIndependent;
  Selection global = ToSelection(env, info[6], true);
  return (new WriteCall(env, handle, path, std::move(sel), info[3].As<Napi::Buffer<uint8_t>>(), transfer, info[5], std::move(global)))
      ->Start();
}

Napi::Value DatasetPrepareChunks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  return (new PrepareChunksCall(env, handle, path, ToSelection(env, info[2], true)))->Start();
}

Napi::Value DatasetRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  Selection sel = ToSelection(env, info[2]);
  return (new ReadCall(env, handle, path, std::move(sel), info[3]))->Start();
}

Napi::Value DatasetReadStrings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  Selection sel = ToSelection(env, info[2]);
  return (new ReadStringsCall(env, handle, path, std::move(sel)))->Start();
}

}  // namespace

void InitDatasets(Napi::Env env, Napi::Object exports) {
  exports.Set("datasetReadStrings", Export(env, "datasetReadStrings", DatasetReadStrings));
  exports.Set("datasetCreate", Export(env, "datasetCreate", DatasetCreate));
  exports.Set("datasetResize", Export(env, "datasetResize", DatasetResize));
  exports.Set("datasetInfo", Export(env, "datasetInfo", DatasetInfo));
  exports.Set("datasetWrite", Export(env, "datasetWrite", DatasetWrite));
  exports.Set("datasetRead", Export(env, "datasetRead", DatasetRead));
  exports.Set("datasetPrepareChunks", Export(env, "datasetPrepareChunks", DatasetPrepareChunks));
}

}  // namespace ph5
