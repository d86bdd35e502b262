/* The libFuzzer entry point every target defines. Built two ways: with -fsanitize=fuzzer
 * (meson -Dfuzz=true, clang) for fuzzing, and with replay.c as an ordinary program that runs
 * the committed corpus as a test. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
