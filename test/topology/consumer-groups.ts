/**
 * The topology's Kafka consumer groups as the broker's group coordinator sees them (the admin
 * API's DescribeGroups): who is a member and which partitions each holds.
 */
import kafkajs from 'kafkajs';
import '../../shared/events/kafkajs-patch.ts';
import type { Admin } from 'kafkajs';

export interface GroupMember {
  readonly memberId: string;
  /** Partitions assigned to it, over every topic of the group. */
  readonly partitions: number;
}

export interface GroupState {
  /** `Stable` once a rebalance is over (`PreparingRebalance`, `CompletingRebalance` during one). */
  readonly state: string;
  readonly members: readonly GroupMember[];
}

export interface ConsumerGroups {
  /** Every group under the prefix whose name (without it) passes `include`, by that name. */
  describe(include: (group: string) => boolean): Promise<Map<string, GroupState>>;
  close(): Promise<void>;
}

export async function consumerGroups(
  brokers: readonly string[],
  prefix: string,
): Promise<ConsumerGroups> {
  const admin: Admin = new kafkajs.Kafka({
    clientId: 'eventgraph-topology-groups',
    brokers: [...brokers],
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  return {
    async describe(include) {
      const names = (await admin.listGroups()).groups
        .map(({ groupId }) => groupId)
        .filter((groupId) => groupId.startsWith(prefix) && include(groupId.slice(prefix.length)));
      const { groups } = names.length ? await admin.describeGroups(names) : { groups: [] };
      return new Map(
        groups.map((group) => [
          group.groupId.slice(prefix.length),
          {
            state: group.state,
            members: group.members.map((member) => {
              const assignment =
                member.memberAssignment.length > 0
                  ? kafkajs.AssignerProtocol.MemberAssignment.decode(member.memberAssignment)
                  : null;
              return {
                memberId: member.memberId,
                partitions: Object.values(assignment?.assignment ?? {}).reduce(
                  (sum, partitions) => sum + partitions.length,
                  0,
                ),
              };
            }),
          },
        ]),
      );
    },
    close: () => admin.disconnect(),
  };
}
