/* Kernel family: indexer. Its templates are added here as they are written (docs/templates.md);
 * until then the GPU backends report its ops as unsupported, with this reason. */
#include "template.h"

const dsa_kernel_family dsa_family_indexer = {0, 0};
