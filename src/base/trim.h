/* Handing back what start-up used and an idle process will not use again. */
#pragma once

#include <stddef.h>

/* Unmaps the pages of clean, private, read-only file mappings (program and library code and
 * constants) and returns freed heap to the system (malloc_trim). The pages stay in the page
 * cache; those used again come back with a minor fault, 64 KB at a time (the kernel's
 * fault-around). What start-up alone used (configuration, schema, door set-up) no longer
 * counts in the process's RSS and PSS. A page written since it was mapped (relocations,
 * private data) is never touched. Returns the bytes unmapped. For a single-threaded caller
 * at a quiet moment; other threads stay correct, they only fault more. */
size_t trim_mappings(void);
