from __future__ import annotations

import uuid

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from carbon_inclusion import metrics
from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.errors import InvalidInput
from carbon_inclusion.partners.service import PartnerService
from carbon_inclusion.rewards.schemas import (
    CodesIn,
    CodesOut,
    RedeemIn,
    RedemptionOut,
    RedemptionPage,
    RewardIn,
    RewardList,
    RewardOut,
    RewardUpdate,
    VoucherUseIn,
    VoucherUseOut,
)
from carbon_inclusion.rewards.service import RewardService
from carbon_inclusion.web.auth import ADMIN, CITIZEN, PARTNER, PUBLIC, VERIFIED
from carbon_inclusion.web.idempotency import REPLAY_HEADERS, IdempotencyKey, created, require_key
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.pagination import DEFAULT_LIMIT, Cursor, Limit, check_limit
from carbon_inclusion.web.signed import signed_body


class AdminRewardController(Controller):
    path = "/v1/admin/rewards"
    tags = ["admin", "rewards"]  # noqa: RUF012
    opt = ADMIN

    @post("/", operation_id="createReward", responses=problems(401, 403),
          summary="Add a reward to the mall")
    async def create(self, data: JSONBody[RewardIn], principal: NamedDependency[Principal],
                     rewards: NamedDependency[RewardService]) -> RewardOut:
        return await rewards.create(principal.id, data)

    @get("/", operation_id="listRewardsAdmin", responses=problems(401, 403),
         summary="Every reward, archived and off-sale ones included")
    async def list_all(self, rewards: NamedDependency[RewardService]) -> RewardList:
        return await rewards.available(include_all=True)

    @put("/{reward_id:uuid}", operation_id="updateReward",
         responses=problems(401, 403, 404, 409),
         summary="Change a reward; stock never goes below what is issued")
    async def update(self, reward_id: FromPath[uuid.UUID], data: JSONBody[RewardUpdate],
                     principal: NamedDependency[Principal],
                     rewards: NamedDependency[RewardService]) -> RewardOut:
        return await rewards.update(principal.id, reward_id, data)

    @post("/{reward_id:uuid}/codes", operation_id="addRewardCodes", status_code=200,
          responses=problems(401, 403, 404, 409),
          summary="Add partner-supplied voucher codes to a reward's pool",
          description="Up to 10,000 at a time. Codes are unique across the programme: one "
          "already known (or sent twice) is skipped and counted in `duplicates`.")
    async def add_codes(self, reward_id: FromPath[uuid.UUID], data: JSONBody[CodesIn],
                        principal: NamedDependency[Principal],
                        rewards: NamedDependency[RewardService]) -> CodesOut:
        return await rewards.add_codes(principal.id, reward_id, data.codes)


class RewardController(Controller):
    path = "/v1/rewards"
    tags = ["rewards"]  # noqa: RUF012
    opt = PUBLIC

    @get("/", operation_id="listRewards", responses=problems(),
         summary="Rewards on sale now, with the stock remaining")
    async def list_available(self, rewards: NamedDependency[RewardService]) -> RewardList:
        return await rewards.available()

    @get("/{reward_id:uuid}", operation_id="getReward", responses=problems(404),
         summary="One reward")
    async def get_one(self, reward_id: FromPath[uuid.UUID],
                      rewards: NamedDependency[RewardService]) -> RewardOut:
        return await rewards.get(reward_id)


class RedemptionController(Controller):
    path = "/v1/redemptions"
    tags = ["rewards"]  # noqa: RUF012
    opt = CITIZEN

    @post("/", operation_id="redeemReward", opt=VERIFIED, status_code=201,
          response_headers=REPLAY_HEADERS,
          responses=problems(401, 403, 409),
          summary="Spend points on a reward",
          description="Points leave the wallet (the soonest-expiring first), stock and the "
          "per-citizen limit are consumed and the voucher codes issued in one transaction. "
          "409 with `code` `insufficient_points` (with `balance` and `cost`), `sold_out`, "
          "`not_on_sale`, or `limit_reached` (with `resets_at`). A replay with the same "
          "`Idempotency-Key` and body returns the first answer (as it stands now); the same "
          "key with another body is 422 `idempotency_key_reused`.")
    async def redeem(self, data: JSONBody[RedeemIn], principal: NamedDependency[Principal],
                     rewards: NamedDependency[RewardService],
                     idempotency_key: IdempotencyKey = None) -> Response[RedemptionOut]:
        require_key(idempotency_key, "redemption")
        out, first = await rewards.redeem(principal.id, idempotency_key, data)
        if first:
            metrics.REDEMPTIONS.inc()
        return created(out, first)

    @get("/", operation_id="listRedemptions", responses=problems(401, 403),
         summary="The caller's redemptions, newest first")
    async def list_own(self, principal: NamedDependency[Principal],
                       rewards: NamedDependency[RewardService], limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> RedemptionPage:
        return await rewards.redemptions(principal.id, limit=check_limit(limit), cursor=cursor)

    @get("/{redemption_id:uuid}", operation_id="getRedemption",
         responses=problems(401, 403, 404), summary="One of the caller's redemptions")
    async def get_one(self, redemption_id: FromPath[uuid.UUID],
                      principal: NamedDependency[Principal],
                      rewards: NamedDependency[RewardService]) -> RedemptionOut:
        return await rewards.redemption(principal.id, redemption_id)

    @post("/{redemption_id:uuid}/cancel", operation_id="cancelRedemption", status_code=200,
          responses=problems(401, 403, 404, 409),
          summary="Cancel within the reward's window: points and stock come back",
          description="Only before any voucher is used or expired (409 `not_cancellable`) "
          "and within the reward's `cancel_window_s` (409 `cancel_window_closed`). "
          "Cancelling again answers with the cancelled redemption; nothing is refunded twice.")
    async def cancel(self, redemption_id: FromPath[uuid.UUID],
                     principal: NamedDependency[Principal],
                     rewards: NamedDependency[RewardService]) -> RedemptionOut:
        return await rewards.cancel(principal.id, redemption_id)


class PartnerVoucherController(Controller):
    path = "/v1/partner/vouchers"
    tags = ["partners", "rewards"]  # noqa: RUF012
    opt = PARTNER

    @post("/{code:str}/use", operation_id="useVoucher", status_code=200, security=[],
          signed_body=(VoucherUseIn,),
          responses=problems(401, 404, 409, 422),
          summary="Mark a voucher used (signed, see DESIGN §9)",
          description="Signed like partner batches; the body `{\"code\": ...}` repeats the "
          "code so the signature covers it. Only the reward's partner can use its vouchers "
          "(any other code is 404). Using one again answers with the first use; an "
          "expired or cancelled one is 409 `voucher_expired` / `voucher_cancelled`.")
    async def use(self, code: FromPath[str], request: Request,
                  partners: NamedDependency[PartnerService],
                  rewards: NamedDependency[RewardService]) -> VoucherUseOut:
        partner, data = await signed_body(request, partners, VoucherUseIn)
        if data.code != code:
            raise InvalidInput.field("code", "must be the code in the path")
        return await rewards.use_voucher(partner.id, code)
