// The pieces every HDF5 call shares: the handle table, the locked-call base, paths.
#include "h5_common.h"

#include <climits>

namespace ph5 {

std::map<uint32_t, OpenFile>& Files() {
  static std::map<uint32_t, OpenFile> files;
  return files;
}

OpenFile LookUp(uint32_t handle) {
  auto it = Files().find(handle);
  if (it == Files().end()) Fail(code::kClosed, "file handle " + std::to_string(handle) + " is closed or unknown");
  return it->second;
}

void RequireWritable(const OpenFile& f, const std::string& what) {
  if (!f.writable) Fail(code::kReadOnly, "the file is open read-only: cannot " + what);
}

uint32_t HandleArg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowArgument(env, "expected a file handle (number)");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= UINT32_MAX) || d != static_cast<double>(static_cast<uint32_t>(d)))
    ThrowArgument(env, "a file handle is a positive integer");
  return static_cast<uint32_t>(d);
}

void H5Call::Run() {
  // The lock first, then the turn: the next call may only start once this one holds the
  // lock, so calls reach HDF5 in ticket order on every rank.
  auto lock = Lock();
  EndTurn();
  EnsureHdf5();
  RunLocked();
}

// ---------------------------------------------------------------------------------------
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

void CheckPath(Napi::Env env, const std::string& path, const char* what) {
  if (path.empty() || path == "/") ThrowArgument(env, std::string(what) + " must name an object, not the root group");
  if (path.back() == '/') ThrowArgument(env, std::string(what) + " must not end with '/'");
  if (path.find("//") != std::string::npos) ThrowArgument(env, std::string(what) + " must not contain '//'");
}

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

Hid OpenObject(hid_t file, const std::string& path) {
  if (path != "/" && !PathExists(file, path)) Fail(code::kNotFound, "no object at " + path);
  return Hid(Check(H5Oopen(file, path.c_str(), H5P_DEFAULT), "opening " + path));
}

Hid OpenDataset(hid_t file, const std::string& path) {
  if (!PathExists(file, path)) Fail(code::kNotFound, "no dataset at " + path);
  H5O_info_t info;
  CheckErr(H5Oget_info_by_name(file, path.c_str(), &info, H5P_DEFAULT), "inspecting " + path);
  if (info.type != H5O_TYPE_DATASET) Fail(code::kType, path + " is not a dataset");
  return Hid(Check(H5Dopen2(file, path.c_str(), H5P_DEFAULT), "opening dataset " + path));
}

Hid IntermediateGroupsLcpl() {
  Hid lcpl(Check(H5Pcreate(H5P_LINK_CREATE), "creating the link creation list"));
  CheckErr(H5Pset_create_intermediate_group(lcpl, 1), "allowing intermediate groups");
  return lcpl;
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
  for (size_t i = 0; i < d.size(); i++) s += (i ? ", " : "") + (d[i] == H5S_UNLIMITED ? std::string("unlimited") : std::to_string(d[i]));
  return s + "]";
}

Napi::Array ToArray(Napi::Env env, const std::vector<hsize_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), v[i] == H5S_UNLIMITED ? -1.0 : static_cast<double>(v[i]));
  return a;
}

void MpiCheck(int err, const char* what) {
  if (err != MPI_SUCCESS) FailMpi(err, what);
}

void AgreeOnFailure(const Failure& local, const std::string& what) {
  static const char* const kCodes[] = {code::kNotFound, code::kExists, code::kType,     code::kSelection, code::kArgument,
                                       code::kClosed,   code::kMpi,    code::kReadOnly, code::kHdf5};
  constexpr int kCount = sizeof kCodes / sizeof kCodes[0];
  constexpr int kFine = 100;
  int mine = kFine;
  if (!local.code.empty()) {
    mine = kCount - 1;
    for (int i = 0; i < kCount; i++)
      if (local.code == kCodes[i]) mine = i;
  }
  struct {
    int value;
    int rank;
  } in{mine, 0}, out{kFine, 0};
  MpiCheck(MPI_Comm_rank(MPI_COMM_WORLD, &in.rank), "MPI_Comm_rank");
  MpiCheck(MPI_Allreduce(&in, &out, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD), "MPI_Allreduce (agreeing on checks)");
  if (!local.code.empty()) throw local;
  if (out.value != kFine)
    Fail(kCodes[out.value],
         "rank " + std::to_string(out.rank) + " refused its part of " + what + " (" + kCodes[out.value] + "), so no rank went ahead");
}

}  // namespace ph5
