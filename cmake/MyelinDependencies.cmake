# Every third-party dependency of myelin, all from Debian 12 packages
# (scripts/install-deps installs them). Nothing is vendored or downloaded.

find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(CAF 0.17.6 REQUIRED COMPONENTS core io openssl)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(Boost REQUIRED COMPONENTS filesystem)
find_package(OpenSSL REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)

find_package(LibArchive REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)

pkg_check_modules(libmount REQUIRED IMPORTED_TARGET mount)
pkg_check_modules(blkid REQUIRED IMPORTED_TARGET blkid)
pkg_check_modules(libubootenv REQUIRED IMPORTED_TARGET libubootenv)
pkg_check_modules(libnl REQUIRED IMPORTED_TARGET libnl-3.0 libnl-route-3.0)
pkg_check_modules(libsodium REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(tomlplusplus REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(httplib REQUIRED IMPORTED_TARGET cpp-httplib)
