# Installs the headers, the library, an exported CMake package (find_package(salvo) gives
# salvo::salvo) and a pkg-config file (pkg-config --cflags --libs salvo).
include(CMakePackageConfigHelpers)

install(DIRECTORY core/include/salvo DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS salvo EXPORT salvoTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT salvoTargets NAMESPACE salvo:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/salvo)

configure_package_config_file(cmake/salvoConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/salvoConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/salvo)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/salvoConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/salvoConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/salvoConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/salvo)

# A static libsalvo (the default) needs liburing at every consumer's link step, so it is a plain
# requirement then; a shared libsalvo links it itself.
set(SALVO_PC_REQUIRES "")
set(SALVO_PC_REQUIRES_PRIVATE "")
if(SALVO_HAVE_IO_URING)
  if(BUILD_SHARED_LIBS)
    set(SALVO_PC_REQUIRES_PRIVATE "liburing")
  else()
    set(SALVO_PC_REQUIRES "liburing")
  endif()
endif()
# The prefix is found relative to the .pc file, so that `cmake --install --prefix X` works too.
file(RELATIVE_PATH SALVO_PC_PREFIX_FROM_PCFILEDIR /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/salvo.pc.in ${CMAKE_CURRENT_BINARY_DIR}/salvo.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/salvo.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
