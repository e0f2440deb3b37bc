// Groups and links: create groups (with intermediate groups), list a group's children with
// their kind, describe one link, delete links, create soft links.
#include <utility>

#include "h5_common.h"

namespace ph5 {

namespace {

// One link as JS sees it. Hard links name the kind of object they point to; soft and
// external links are not followed (they may dangle) and carry their target instead.
struct LinkEntry {
  std::string name;
  std::string kind;    // group | dataset | datatype | softlink | external | other
  std::string target;  // soft: the path; external: the path in `file`
  std::string file;    // external only
};

LinkEntry DescribeLink(hid_t loc, const std::string& name) {
  LinkEntry e;
  e.name = name;
  H5L_info_t link;
  CheckErr(H5Lget_info(loc, name.c_str(), &link, H5P_DEFAULT), "reading link " + name);
  if (link.type == H5L_TYPE_HARD) {
    H5O_info_t info;
    CheckErr(H5Oget_info_by_name(loc, name.c_str(), &info, H5P_DEFAULT), "inspecting " + name);
    e.kind = info.type == H5O_TYPE_GROUP            ? "group"
             : info.type == H5O_TYPE_DATASET        ? "dataset"
             : info.type == H5O_TYPE_NAMED_DATATYPE ? "datatype"
                                                    : "other";
    return e;
  }
  if (link.type != H5L_TYPE_SOFT && link.type != H5L_TYPE_EXTERNAL) {
    e.kind = "other";
    return e;
  }
  std::vector<char> value(link.u.val_size + 1, '\0');
  CheckErr(H5Lget_val(loc, name.c_str(), value.data(), value.size(), H5P_DEFAULT), "reading the value of link " + name);
  if (link.type == H5L_TYPE_SOFT) {
    e.kind = "softlink";
    e.target = value.data();
    return e;
  }
  e.kind = "external";
  unsigned flags = 0;
  const char* file = nullptr;
  const char* path = nullptr;
  CheckErr(H5Lunpack_elink_val(value.data(), link.u.val_size, &flags, &file, &path), "unpacking external link " + name);
  e.file = file ? file : "";
  e.target = path ? path : "";
  return e;
}

Napi::Object ToJs(Napi::Env env, const LinkEntry& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", e.name);
  o.Set("kind", e.kind);
  if (e.kind == "softlink" || e.kind == "external") o.Set("target", e.target);
  if (e.kind == "external") o.Set("file", e.file);
  return o;
}

class GroupCreateCall : public FileCall {
 public:
  GroupCreateCall(Napi::Env env, uint32_t handle, std::string path) : FileCall(env, "ph5.groupCreate", handle), path_(std::move(path)) {
    CheckPath(env, path_, "a group path");
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "create group " + path_);
    if (PathExists(f.id, path_)) Fail(code::kExists, "an object already exists at " + path_);
    CheckParents(f.id, path_);
    Hid lcpl = IntermediateGroupsLcpl();
    Hid group(Check(H5Gcreate2(f.id, path_.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), "creating group " + path_));
  }

 private:
  std::string path_;
};

class LinkListCall : public FileCall {
 public:
  LinkListCall(Napi::Env env, uint32_t handle, std::string path) : FileCall(env, "ph5.linkList", handle), path_(std::move(path)) {
    if (path_.empty()) ThrowArgument(env, "a group path must not be empty (the root is '/')");
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    Hid object = OpenObject(f.id, path_);
    H5O_info_t info;
    CheckErr(H5Oget_info(object, &info), "inspecting " + path_);
    if (info.type != H5O_TYPE_GROUP) Fail(code::kType, path_ + " is not a group");
    // Names first (in name order), then each one described: the iteration callback
    // must not throw through HDF5's C frames.
    std::vector<std::string> names;
    hsize_t index = 0;
    auto collect = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
      try {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      } catch (...) {
        return -1;  // out of memory: stop, HDF5 reports the failed iteration
      }
    };
    CheckErr(H5Literate(object, H5_INDEX_NAME, H5_ITER_INC, &index, collect, &names), "listing " + path_);
    for (auto& name : names) entries_.push_back(DescribeLink(object, name));
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array a = Napi::Array::New(env, entries_.size());
    for (size_t i = 0; i < entries_.size(); i++) a.Set(static_cast<uint32_t>(i), ToJs(env, entries_[i]));
    return a;
  }

 private:
  std::string path_;
  std::vector<LinkEntry> entries_;
};

// One link, or null when nothing is at `path` (so callers can test for existence).
class LinkInfoCall : public FileCall {
 public:
  LinkInfoCall(Napi::Env env, uint32_t handle, std::string path) : FileCall(env, "ph5.linkInfo", handle), path_(std::move(path)) {
    CheckPath(env, path_, "a link path");
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    if (!PathExists(f.id, path_)) return;
    found_ = true;
    entry_ = DescribeLink(f.id, path_);
    size_t slash = path_.rfind('/');
    entry_.name = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  }
  Napi::Value Result(Napi::Env env) override { return found_ ? Napi::Value(ToJs(env, entry_)) : env.Null(); }

 private:
  std::string path_;
  bool found_ = false;
  LinkEntry entry_;
};

class LinkDeleteCall : public FileCall {
 public:
  LinkDeleteCall(Napi::Env env, uint32_t handle, std::string path) : FileCall(env, "ph5.linkDelete", handle), path_(std::move(path)) {
    CheckPath(env, path_, "a link path");
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "delete " + path_);
    if (!PathExists(f.id, path_)) Fail(code::kNotFound, "no link at " + path_);
    // Removes the link only; the object's space is freed when its last link goes (HDF5
    // does not reuse it in the file: h5repack reclaims it).
    CheckErr(H5Ldelete(f.id, path_.c_str(), H5P_DEFAULT), "deleting " + path_);
  }

 private:
  std::string path_;
};

class SoftLinkCall : public FileCall {
 public:
  SoftLinkCall(Napi::Env env, uint32_t handle, std::string path, std::string target)
      : FileCall(env, "ph5.softLinkCreate", handle), path_(std::move(path)), target_(std::move(target)) {
    CheckPath(env, path_, "a link path");
    if (target_.empty()) ThrowArgument(env, "a soft link target must not be empty");
  }

 protected:
  void RunOnFile(const OpenFile& f) override {
    RequireWritable(f, "create soft link " + path_);
    if (PathExists(f.id, path_)) Fail(code::kExists, "an object already exists at " + path_);
    CheckParents(f.id, path_);
    Hid lcpl = IntermediateGroupsLcpl();
    // The target is not resolved now: a soft link may dangle until its target exists.
    CheckErr(H5Lcreate_soft(target_.c_str(), f.id, path_.c_str(), lcpl, H5P_DEFAULT), "creating soft link " + path_);
  }

 private:
  std::string path_, target_;
};

Napi::Value GroupCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  return (new GroupCreateCall(env, handle, ToString(env, info[1], "path")))->Start();
}

Napi::Value LinkList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  return (new LinkListCall(env, handle, ToString(env, info[1], "path")))->Start();
}

Napi::Value LinkInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  return (new LinkInfoCall(env, handle, ToString(env, info[1], "path")))->Start();
}

Napi::Value LinkDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  return (new LinkDeleteCall(env, handle, ToString(env, info[1], "path")))->Start();
}

Napi::Value SoftLinkCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t handle = HandleArg(info);
  std::string path = ToString(env, info[1], "path");
  return (new SoftLinkCall(env, handle, path, ToString(env, info[2], "target")))->Start();
}

}  // namespace

void InitLinks(Napi::Env env, Napi::Object exports) {
  exports.Set("groupCreate", Export(env, "groupCreate", GroupCreate));
  exports.Set("linkList", Export(env, "linkList", LinkList));
  exports.Set("linkInfo", Export(env, "linkInfo", LinkInfo));
  exports.Set("linkDelete", Export(env, "linkDelete", LinkDelete));
  exports.Set("softLinkCreate", Export(env, "softLinkCreate", SoftLinkCreate));
}

}  // namespace ph5
