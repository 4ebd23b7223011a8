/* Plans for the cache family: added with its templates (templates/family_cache.c). */
#include "plan.h"

const dsa_plan_family dsa_plans_cache = {0, 0};
