{
  "targets": [
    {
      "target_name": "portio",
      "sources": ["src/portio.c", "src/gso.c", "src/gro.c", "src/flowcache.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
