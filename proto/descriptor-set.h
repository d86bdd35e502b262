/* Every .proto droverd serves, with its imports, as one serialized FileDescriptorSet, embedded at
 * build time: what server reflection answers from. */
#pragma once

#include <stddef.h>

extern const unsigned char drover_descriptor_set[];
extern const size_t drover_descriptor_set_len;
