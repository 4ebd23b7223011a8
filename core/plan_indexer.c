/* Plans for the indexer family: added with its templates (templates/family_indexer.c). */
#include "plan.h"

const dsa_plan_family dsa_plans_indexer = {0, 0};
