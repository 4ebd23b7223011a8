/* Plans for the topk family: added with its templates (templates/family_topk.c). */
#include "plan.h"

const dsa_plan_family dsa_plans_topk = {0, 0};
